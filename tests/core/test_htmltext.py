"""Character references in attribute values, and the visible text of a link."""

from __future__ import annotations

import pytest

from mailbeacon.core.instrumentation.htmltext import decode_attribute, visible_text


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("a&amp;b", "a&b"),
        ("a&ampb", "a&ampb"),  # legacy reference followed by an alphanumeric: kept
        ("?a=1&copy=2", "?a=1&copy=2"),  # followed by "=": kept (the attribute rule)
        ("?a&copy;b", "?a\u00a9b"),
        ("&amp", "&"),  # legacy reference at the end: decoded
        ("&lt;&gt;&quot;&#39;", "<>\"'"),
        ("&#x41;&#65;&#65", "AAA"),
        ("&notit;", "&notit;"),  # the longest legacy name "not", then "i": kept
        ("&unknown;", "&unknown;"),
        ("no references", "no references"),
    ],
)
def test_decode_attribute(value: str, decoded: str) -> None:
    assert decode_attribute(value) == decoded


@pytest.mark.parametrize(
    ("fragment", "text"),
    [
        ("Plain", "Plain"),
        ("  spread \n out\t", "spread out"),
        ("<b>Bold</b> &amp; <i>it</i>", "Bold & it"),
        ("<td>a</td><td>b</td>", "a b"),
        ("a<br>b", "a b"),
        ('<img src="x" alt="Logo &amp; co">', "Logo & co"),
        ("<IMG ALT=Up src=x /> and more", "Up and more"),
        ("<img src=x>", ""),
        ("<!--[if mso]>x<![endif]-->y", "y"),
        ("caf\u00e9 \u4e2d\u6587 \U0001f600", "caf\u00e9 \u4e2d\u6587 \U0001f600"),
        ("a\x00b", "a\ufffdb"),  # as HTML reads it, and storable on PostgreSQL
        ("<b>a\x00</b>&#0;", "a\ufffd\ufffd"),
    ],
)
def test_visible_text(fragment: str, text: str) -> None:
    assert visible_text(fragment) == text


def test_visible_text_is_capped() -> None:
    assert len(visible_text("word " * 100)) <= 200
    assert len(visible_text("x" * 500, limit=10)) == 10
