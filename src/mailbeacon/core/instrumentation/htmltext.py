"""Text out of HTML source: attribute values with their character references decoded, and the
visible text of a link.

``html.unescape`` is right for text but wrong for attribute values: there the HTML Standard
leaves a legacy reference without ";" alone when "=" or an alphanumeric follows, so the query
string ``?a=1&copy=2`` keeps its ``&copy=2`` instead of becoming ``©=2`` (a bug several
trackers ship). :func:`decode_attribute` implements that rule.
"""

from __future__ import annotations

import html
import re
from html.entities import html5 as _NAMED

__all__ = ["decode_attribute", "visible_text"]

_REFERENCE = re.compile(r"&(#[xX][0-9a-fA-F]+;?|#[0-9]+;?|[A-Za-z][A-Za-z0-9]*;?)")
_LONGEST_NAME = max(len(name) for name in _NAMED)


def decode_attribute(value: str) -> str:
    """Decode character references in an attribute value as a browser does."""
    if "&" not in value:
        return value
    return _REFERENCE.sub(lambda m: _decode_reference(m, value), value)


def _decode_reference(m: re.Match[str], value: str) -> str:
    ref = m.group(1)
    if ref[0] == "#":
        return html.unescape(m.group(0))  # numeric: same rules in text and attributes
    # Named: the longest name in the table that prefixes the reference wins ("&notit;" is "¬it;").
    for length in range(min(len(ref), _LONGEST_NAME), 0, -1):
        name = ref[:length]
        if name in _NAMED:
            break
    else:
        return m.group(0)
    if not name.endswith(";"):
        following = value[m.start(1) + length : m.start(1) + length + 1]
        if following == "=" or following.isalnum():
            return m.group(0)  # the attribute-value exception for legacy references
    return _NAMED[name] + ref[length:]


# Tags that break a line when rendered, so "<td>a</td><td>b</td>" reads "a b", not "ab".
_BLOCK = (
    "address|article|aside|blockquote|br|center|dd|div|dl|dt|figcaption|figure|footer|h[1-6]"
    "|header|hr|li|main|nav|ol|p|pre|section|table|tbody|td|tfoot|th|thead|tr|ul"
)
_QUOTED_ATTRS = r"""[^>"']*+(?>(?:(?:"[^"]*+"|'[^']*+')[^>"']*+)*)"""  # up to the tag's ">"
_MARKUP = re.compile(
    r"<!--(?:.*?-->|.*)"  # comments, including Outlook's conditional ones
    r"|<![^>]*>"
    rf"|<[iI][mM][gG](?=[\t\n\f\r />])(?P<img>{_QUOTED_ATTRS})>"
    rf"|(?P<block></?(?i:{_BLOCK})(?=[\t\n\f\r />]){_QUOTED_ATTRS}>)"
    rf"|</?[a-zA-Z]{_QUOTED_ATTRS}>",
    re.DOTALL,
)
_LONE_IMAGE = re.compile(rf"\s*<[iI][mM][gG]((?=[\t\n\f\r />]){_QUOTED_ATTRS})>\s*")
_ALT = re.compile(
    r"""[\t\n\f\r /][aA][lL][tT][\t\n\f\r ]*=[\t\n\f\r ]*"""
    r"""(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]+))"""
)


def visible_text(fragment: str, limit: int = 200) -> str:
    """The text a reader sees in an HTML fragment: tags stripped, references decoded, whitespace
    collapsed, at most ``limit`` characters. An image counts as its ``alt`` text, as screen
    readers and image-blocking mail clients show it, so an image-only link still has a name.
    """
    if "\x00" in fragment:  # HTML reads a NUL in text as U+FFFD; no database stores it
        fragment = fragment.replace("\x00", "\ufffd")
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())[:limit].rstrip()
    if "<" in fragment:
        image = _LONE_IMAGE.fullmatch(fragment)  # the commonest markup in a link: one image
        if image is not None:
            alt = _ALT.search(image.group(1))
            fragment = next(g for g in alt.groups() if g is not None) if alt else ""
        else:
            fragment = _MARKUP.sub(_replace_markup, fragment)
    if "&" in fragment:
        fragment = html.unescape(fragment)
    return " ".join(fragment.split())[:limit].rstrip()


def _replace_markup(m: re.Match[str]) -> str:
    if m.group("block") is not None:
        return " "
    img = m.group("img")
    if img is not None:
        alt = _ALT.search(img)
        if alt:
            # Still encoded as in the source: decoded with the surrounding text.
            return " " + next(g for g in alt.groups() if g is not None) + " "
    return ""
