"""Real templates from open-source email frameworks (tests/fixtures/emails, see NOTICE.md).

For each: every character outside the rewritten values is kept, and the links found are exactly
the ``<a>``, ``<area>`` and VML hrefs that the standard library's HTML parser sees once
Outlook's conditional comments are opened up (as Outlook renders them).
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailbeacon.core.instrumentation.linkrules import LinkRules, SkipReason
from mailbeacon.core.instrumentation.rewrite import instrument_html
from mailbeacon.core.instrumentation.tokens import Keyring, TokenCodec
from mailbeacon.core.instrumentation.tracker import CopyTracker
from tests.core.test_rewrite import undo

FIXTURES = Path(__file__).parent.parent / "fixtures" / "emails"
BENCH_EMAIL = Path(__file__).parents[2] / "bench" / "instrument" / "marketing.html"
CORPUS = [*sorted(FIXTURES.glob("*.html")), BENCH_EMAIL]
TRACKER = CopyTracker(
    TokenCodec(Keyring.parse("1:" + "c" * 40)), "https://t.example.com", 1, date(2026, 11, 23)
)
# Outlook renders what its conditional comments hide from everyone else: take the markers out.
_CONDITIONAL = re.compile(
    r"<!--\[if[^\]]*\]><!-->|<!--\[if[^\]]*\]><!--\s*-->|<!--\[if[^\]]*\]>"
    r"|<!--<!\[endif\]-->|<!\[endif\]-->",
    re.IGNORECASE,
)


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area") or tag.startswith("v:"):
            href = next((value for name, value in attrs if name == "href"), None)
            if href is not None:
                self.hrefs.append(href)


def oracle(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(_CONDITIONAL.sub("", html))
    parser.close()
    return [" ".join(h.split()) for h in parser.hrefs]


def trackable(url: str) -> bool:
    """Independently of mailbeacon's rules: an absolute web URL with nothing to fill in."""
    return (
        re.match(r"https?://[^/?#\s]+", url, re.IGNORECASE) is not None
        and "unsubscribe" not in url.lower()
        and not re.search(r"\{\{|\{%|%%|\*\|", url)
    )


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_bytes_are_kept_outside_the_rewritten_values(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    result = instrument_html(html, TRACKER, honeypot=True)
    assert undo(html, result) == html


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_rendered_web_link_is_tracked_and_nothing_else(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    result = instrument_html(html, TRACKER, rules=LinkRules())
    found = sorted(
        [(link.value_start, link.url) for link in result.links]
        + [(skip.value_start, skip.url) for skip in result.skipped]
    )
    expected = oracle(html)
    assert [" ".join(url.split()) for _, url in found] == expected
    tracked = [link.url for link in result.links]
    assert [" ".join(u.split()) for u in tracked] == [u for u in expected if trackable(u)]
    for skip in result.skipped:
        assert skip.reason is not SkipReason.TOO_MANY


def test_the_corpus_covers_what_matters() -> None:
    """Guard against the fixtures losing the features the tests above rely on."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in CORPUS}
    everything = "\n".join(texts.values())
    for feature in (
        "<!--[if mso",
        "<v:",
        "<area ",
        "&amp;",
        "mailto:",
        "tel:",
        'href="#',
        "unsubscribe",
        "{{",
        "<style",
    ):
        assert feature in everything, feature
    assert len(texts) >= 10
