"""The tag scanner: what it finds and skips, and that the C accelerator equals the reference."""

from __future__ import annotations

import os

import pytest
from hypothesis import given

from mailbeacon.core.instrumentation import htmlscan
from mailbeacon.core.instrumentation.htmlscan import END, EOF, START, scan, scan_reference
from tests.strategies import HTMLISH, documents


def names(html: str) -> list[tuple[int, str]]:
    return [(kind, html[ns:ne].lower()) for kind, _, _, ns, ne, *_ in scan(html)]


def test_the_accelerator_is_built() -> None:
    """CI must measure and test the C scanner, not silently fall back to the regexes."""
    if os.environ.get("CI") == "true" or htmlscan.ACCELERATED:
        assert htmlscan.ACCELERATED


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ('<a href="x">y</a>', [(START, "a")]),
        ("<AREA HREF=x>", [(START, "area")]),
        ("<v:RoundRect href=x>t</v:RoundRect>", [(START, "v:roundrect")]),
        ("<body class=x><p>t</p></body>", [(START, "body"), (END, "body")]),
        ("<!-- <a href=x> --><a href=y>", [(START, "a")]),
        ("<!--><a href=y>-->", [(START, "a")]),  # "<!-->" is a whole comment
        ("<!--[if mso]><a href=x><![endif]-->", [(START, "a")]),
        ("<script>'<a href=x>'</script>", []),
        ("<style>a<b{}</style><title><a href=x></title>", []),
        ("<TEXTAREA><a href=x></textarea>", []),
        ('<img alt="<a href=x>">', []),
        ('<td width=50%" title="<a href=x>">', []),  # a quote opens a value only after "="
        ("<abbr><address><a>", [(START, "a")]),
        ("a < b <a href=1>", [(START, "a")]),
        ('<a href="never closed', []),
        ("<v: href=x>", []),  # no element name: text
    ],
)
def test_finds_exactly_the_interesting_tags(html: str, found: list[tuple[int, str]]) -> None:
    assert names(html) == [*found, (EOF, "")]


def test_attribute_spans_exclude_quotes_and_keep_unquoted_values() -> None:
    html = "<a =x href='y' c d=e f= g/>"
    (tag, _eof) = scan(html)
    spans = {html[ns:ne]: (html[vs:ve], q) for ns, ne, vs, ve, q in tag[5]}
    assert spans == {
        "=x": ("", 0),
        "href": ("y", ord("'")),
        "c": ("", 0),
        "d": ("e", 0),
        "f": ("g/", 0),
    }
    assert tag[6] == 1  # the index of href


def test_the_first_of_duplicate_hrefs_wins() -> None:
    html = '<a HREF="first" href="second">'
    tag = scan(html)[0]
    _, _, vs, ve, _ = tag[5][tag[6]]
    assert html[vs:ve] == "first"


def test_content_end_stops_at_the_end_tag_or_the_next_anchor() -> None:
    html = "<a href=1>one<b>!</b><abbr>x<a href=2>two</A ><v:rect href=3>s</V:RECT>"
    first, second, vml, _ = scan(html)
    assert html[first[2] : first[7]] == "one<b>!</b><abbr>x"
    assert html[second[2] : second[7]] == "two"
    assert html[vml[2] : vml[7]] == "s"


@given(HTMLISH)
def test_accelerator_equals_reference_on_arbitrary_text(html: str) -> None:
    assert scan(html) == scan_reference(html)


@given(documents())
def test_accelerator_equals_reference_on_documents(doc: object) -> None:
    html = doc.text  # type: ignore[attr-defined]
    assert scan(html) == scan_reference(html)


def test_the_scan_always_ends_with_eof() -> None:
    for html in ["", "<", "<a", "<!--", "<style>", "</", "<?"]:
        assert scan(html)[-1][0] == EOF
        assert scan_reference(html) == scan(html)
