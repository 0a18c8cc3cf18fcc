"""Which links stay as written, and the URL an href stands for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.instrumentation.linkrules import LinkRules, SkipReason, clean_url, host_of

RULES = LinkRules.build(
    excluded_domains=["partner.example", "Docs.Example."],
    tracking_hosts=["t.track.example"],
    unsubscribe_urls=["https://lists.example/opt-out/77"],
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/", None),
        ("http://example.com:8080/a?b=c#d", None),
        ("HTTPS://Example.COM/x", None),
        ("https://user:pw@example.com/", None),
        ("https://[2001:db8::1]/x", None),
        ("", SkipReason.EMPTY),
        ("mailto:a@example.com", SkipReason.NOT_WEB),
        ("tel:+1555", SkipReason.NOT_WEB),
        ("sms:+1555", SkipReason.NOT_WEB),
        ("javascript:alert(1)", SkipReason.NOT_WEB),
        ("JavaScript:alert(1)", SkipReason.NOT_WEB),
        ("data:image/png;base64,AAAA", SkipReason.NOT_WEB),
        ("file:///etc/passwd", SkipReason.NOT_WEB),
        ("blob:https://example.com/1", SkipReason.NOT_WEB),
        ("cid:logo@mail", SkipReason.NOT_WEB),
        ("ftp://example.com/", SkipReason.NOT_WEB),
        ("#section", SkipReason.FRAGMENT),
        ("/relative", SkipReason.RELATIVE),
        ("relative.html", SkipReason.RELATIVE),
        ("//example.com/x", SkipReason.RELATIVE),
        ("https://", SkipReason.INVALID),
        ("https:///path", SkipReason.INVALID),
        ("https://example.com/{{ id }}", SkipReason.PLACEHOLDER),
        ("{{ url }}", SkipReason.PLACEHOLDER),
        ("https://example.com/{% url 'x' %}", SkipReason.PLACEHOLDER),
        ("*|UNSUB|*", SkipReason.PLACEHOLDER),
        ("https://example.com/?u=*|EMAIL|*", SkipReason.PLACEHOLDER),
        ("https://example.com/%%view_email_url%%", SkipReason.PLACEHOLDER),
        ("https://example.com/%7B%7Bid%7D%7D", SkipReason.PLACEHOLDER),
        ("https://example.com/unsubscribe", SkipReason.UNSUBSCRIBE),
        ("https://example.com/UnSubscribe?x=1", SkipReason.UNSUBSCRIBE),
        ("https://lists.example/opt-out/77", SkipReason.UNSUBSCRIBE),
        ("https://t.track.example/c/abc", SkipReason.TRACKING_HOST),
        ("https://T.Track.Example./c/abc", SkipReason.TRACKING_HOST),
        ("https://partner.example/a", SkipReason.EXCLUDED_DOMAIN),
        ("https://cdn.partner.example/a", SkipReason.EXCLUDED_DOMAIN),
        ("https://notpartner.example/a", None),
        ("https://docs.example/a", SkipReason.EXCLUDED_DOMAIN),
        ("https://example.com/100%25", None),
        ("https://example.com/a*b", None),
    ],
)
def test_skip_rules(url: str, reason: SkipReason | None) -> None:
    assert RULES.skip_reason(url) is reason
    assert RULES.skip_reason_reference(url) is reason


URLISH = st.lists(
    st.sampled_from(
        [
            "https://",
            "http://",
            "HTTP://",
            "mailto:",
            "#",
            "/",
            "?",
            "=",
            "&",
            "&amp;",
            "%",
            "%%",
            "%7B",
            "%25",
            "{",
            "}",
            "{{",
            "*",
            "*|",
            "|*",
            "@",
            ":",
            "[",
            "]",
            "\\",
            " ",
            "\t",
            "example.com",
            "partner.example",
            "t.track.example",
            "unsubscribe",
            "a",
            "1",
            ".",
            "-",
        ]
    ),
    max_size=12,
).map("".join)


@given(URLISH)
def test_the_fast_path_agrees_with_every_rule(raw: str) -> None:
    url, reason = RULES.judge(raw)
    assert url == clean_url(raw)
    assert reason is RULES.skip_reason_reference(url)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://a.example/?x=1&amp;y=2", "https://a.example/?x=1&y=2"),
        ("https://a.example/?x=1&copy=2", "https://a.example/?x=1&copy=2"),
        ("https://a.example/?x=1&copy;2", "https://a.example/?x=1\u00a92"),
        ("https://a.example/&#47;&#x2f;", "https://a.example///"),
        ("  https://a.example/\n x \t", "https://a.example/ x"),
        ("\x00https://a.example/\x1f", "https://a.example/"),
    ],
)
def test_clean_url_decodes_references_as_browsers_do_in_attributes(raw: str, url: str) -> None:
    assert clean_url(raw) == url


def test_host_of() -> None:
    assert host_of("https://User@Example.COM.:443/x") == "example.com"
    assert host_of("mailto:x@example.com") is None
    assert host_of("https://") is None
