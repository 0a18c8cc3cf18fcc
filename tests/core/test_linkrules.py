"""Which links stay as written, and the URL an href stands for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.instrumentation.linkrules import (
    LinkRules,
    SkipReason,
    clean_url,
    host_of,
    uri_of,
)

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
    clean = clean_url(raw)
    expected = RULES.skip_reason_reference(clean)
    if expected is None:  # tracked: its destination as a URI, or not tracked if none can be
        uri = uri_of(clean)
        assert (url, reason) == ((uri, None) if uri else (clean, SkipReason.INVALID))
    else:
        assert (url, reason) == (clean, expected)


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("https://a.example/p?q=1#f", "https://a.example/p?q=1#f"),
        ("https://exämple.com/café?q=ü#ß", "https://xn--exmple-cua.com/caf%C3%A9?q=%C3%BC#%C3%9F"),
        ("https://a.example/a b|c", "https://a.example/a%20b%7Cc"),
        ("https://a.example/50%25?x=%zz", "https://a.example/50%25?x=%zz"),
        ("HTTPS://user:pä@a.example:8443/x", "https://user:p%C3%A4@a.example:8443/x"),
        ("https://[::1]:8080/ä", "https://[::1]:8080/%C3%A4"),
        ("https://a.example/\x00", None),
        ("https://a.example:99999/ä", None),
        ("https://a.example:99999/x", None),
        ("https://a.example:65535/x", "https://a.example:65535/x"),
        ("https://xn--a.example/ä", None),
        ("https://[::1/ä", None),
    ],
)
def test_a_tracked_destination_is_made_a_uri(url: str, uri: str | None) -> None:
    assert uri_of(url) == uri
    if uri is not None:
        assert uri.isascii()
        assert " " not in uri


def test_a_link_no_uri_can_be_made_of_stays_as_written() -> None:
    assert RULES.judge("https://a.example:99999/ä") == (
        "https://a.example:99999/ä",
        SkipReason.INVALID,
    )
    assert RULES.judge("https://bücher.example/ä") == (
        "https://xn--bcher-kva.example/%C3%A4",
        None,
    )


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
