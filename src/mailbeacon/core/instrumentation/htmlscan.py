"""Where the tracking-relevant tags of an HTML document are, by character offset.

Why hand-written: every parser we tried (lxml, html5lib, selectolax) re-serialises the document
and so changes characters we promised to keep (doctype, entities, quotes, ``/>``, an implied
``<tbody>``). We only need *where* things are, so we tokenise with the HTML Standard's rules for
the parts that matter and never rebuild anything.

Reported, in document order: start tags ``<a>``, ``<area>``, ``<body>`` and any Outlook VML
element (``<v:roundrect>``, ``<v:rect>``, ...) with their attributes, the end tag ``</body>``,
and the end of the document.

Skipped, so links there are never found: ordinary comments (not rendered), ``<script>``,
``<style>``, ``<title>``, ``<textarea>`` and the other raw-text elements, the doctype and
processing instructions. Outlook's conditional comments (``<!--[if mso]> ... <![endif]-->``) are
*not* skipped: Outlook renders their content, so the links inside are real.

Two implementations give identical results: the regular expressions below (the reference, and
the fallback when no compiler was available) and the C accelerator ``_scan`` (about ten times
faster; ``tests/core/test_htmlscan.py`` checks them against each other).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

__all__ = ["ACCELERATED", "END", "EOF", "START", "AttrSpan", "RawTag", "content_end", "scan"]

START: Final = 0  # a start tag: <a>, <area>, <body>, <v:...>
END: Final = 1  # the end tag </body>
EOF: Final = 2  # the end of the document

# (name_start, name_end, value_start, value_end, quote): offsets into the document; the value
# span excludes its quotes; quote is 0 (unquoted or no value), ord('"') or ord("'"). An
# attribute without a value has an empty value span at the end of its name.
AttrSpan = tuple[int, int, int, int, int]
# (kind, start, end, name_start, name_end, attributes, href, content_end): start is the offset
# of "<", end is just past ">"; at EOF all four offsets are the document's length. href is the
# index in attributes of the first "href", or -1. content_end is where the content of an <a> or
# VML element ends (see content_end), end for <area> and <body>, -1 for END and EOF.
RawTag = tuple[int, int, int, int, int, tuple[AttrSpan, ...], int, int]

_WS = r"\t\n\f\r "  # HTML whitespace; not \s, which would also match U+00A0 inside values


def _ci(word: str) -> str:
    """A case-insensitive pattern for an ASCII word, without the (slower) IGNORECASE flag."""
    return "".join(
        f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else re.escape(c) for c in word
    )


_END = rf"(?=[{_WS}/>])"  # a tag name ends here
# A tag's attributes up to its closing ">". As in the HTML Standard's tokenizer a quote opens a
# value only right after "=" (and whitespace): in `width=50%" style="..."` the value is `50%"`.
# Possessive and atomic repeats keep the engine from backtracking on malformed input.
_ATTRS = rf"[^>=]*+(?>(?:=[{_WS}]*+(?:\"[^\"]*+\"|'[^']*+'|)[^>=]*+)*)"
_RAW_TEXT = ("script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes")
# An ordinary start tag. Its first letter decides cheaply: tags starting like a special one
# (table, td, span, img, b, ...) pay only for a short lookahead of their own letter.
_FIRST_LETTER = {
    "t": ("title", "textarea"),
    "s": ("script", "style"),
    "i": ("iframe",),
    "b": ("body",),
    "a": ("a", "area"),
    "n": ("noembed", "noframes"),
    "x": ("xmp",),
}
_ORDINARY_START = (
    "<(?:[c-hj-mo-ruwyzC-HJ-MO-RUWYZ]|[vV](?!:)"
    + "".join(
        f"|[{c}{c.upper()}](?!(?:{'|'.join(_ci(n[1:]) for n in names)}){_END})"
        for c, names in _FIRST_LETTER.items()
    )
    + rf")[^{_WS}/>]*+{_ATTRS}>"
)
_ORDINARY_END = rf"</(?!{_ci('body')}{_END})[a-zA-Z][^{_WS}/>]*+{_ATTRS}>"
_COMMENT = (
    r"<!--(?:"
    r"\[[iI][fF][^\]>]*+\]>"  # a conditional comment opener: its content is Outlook's HTML
    r"|-?>"  # "<!-->" and "<!--->" are complete (empty) comments
    r"|[^-]*+(?>(?:-(?!-!?>)[^-]*+)*)(?:--!?>)?)"  # a comment, or one running to the end
)
# Repeated groups are atomic, (?>(?:...)*), never possessive, (?:...)*+: CPython 3.11 before
# 3.11.4 (Debian 12's) mis-matches possessive group repeats. For the same reason no capture
# group appears inside one, so each raw-text element gets its own alternative.
_RAW_ELEMENTS = "".join(
    rf"|<{_ci(n)}{_END}{_ATTRS}>[^<]*+(?>(?:<(?!/{_ci(n)}{_END})[^<]*+)*)"
    rf"(?:</{_ci(n)}{_END}{_ATTRS}>)?"
    for n in _RAW_TEXT
)
# Everything uninteresting, consumed inside the regular-expression engine.
_SKIP = (
    rf"[^<]*+(?>(?:(?:{_ORDINARY_START}|{_ORDINARY_END}|{_COMMENT}"
    r"|<![^>]*+>?"  # doctype, CDATA, bogus comment; also Outlook's "<![endif]-->"
    r"|<\?[^>]*+>?"  # processing instruction
    r"|<(?![a-zA-Z!?/])"  # a "<" that starts no tag is text
    r"|</(?![a-zA-Z])[^>]*+>?"  # "</" + non-letter is a bogus comment
    rf"{_RAW_ELEMENTS})[^<]*+)*)"
)
_PATTERN = re.compile(
    rf"{_SKIP}(?:"
    rf"<(?P<name>{_ci('area')}|[aA]|{_ci('body')}|[vV]:[^{_WS}/>]++){_END}(?P<attrs>{_ATTRS})>"
    rf"|</(?P<end>{_ci('body')}){_END}{_ATTRS}>"
    r"|(?P<eof>\Z)"
    r"|<)",  # an interesting-looking tag that never closes: its "<" is text
    re.DOTALL,
)
_ATTRIBUTE = re.compile(
    rf"([^{_WS}/>][^{_WS}/>=]*)(?:[{_WS}]*=[{_WS}]*(\"[^\"]*\"|'[^']*'|[^{_WS}>]*))?",
)


def _attributes(html: str, start: int, stop: int) -> tuple[tuple[AttrSpan, ...], int]:
    found: list[AttrSpan] = []
    href = -1
    for m in _ATTRIBUTE.finditer(html, start, stop):
        name_start, name_end = m.span(1)
        if href < 0 and name_end - name_start == 4 and m.group(1).lower() == "href":
            href = len(found)
        value_start, value_end = m.span(2)
        if value_start < 0:
            found.append((name_start, name_end, name_end, name_end, 0))
            continue
        first = html[value_start]
        if value_end - value_start >= 2 and first in "\"'" and html[value_end - 1] == first:
            found.append((name_start, name_end, value_start + 1, value_end - 1, ord(first)))
        else:
            found.append((name_start, name_end, value_start, value_end, 0))
    return tuple(found), href


def scan_reference(html: str) -> list[RawTag]:
    """The regular-expression implementation of :func:`scan`."""
    tags: list[RawTag] = []
    match = _PATTERN.match
    pos = 0
    while True:
        m = match(html, pos)
        assert m is not None  # every "<" is skippable or matched, and \Z ends the document
        pos = m.end()
        name_start, name_end = m.span("name")
        if name_start >= 0:
            attrs, href = _attributes(html, name_end, pos - 1)
            name = m.group("name")
            has_content = name in ("a", "A") or name[0] in "vV"  # <a> and VML elements
            ends = content_end(html, name, pos) if has_content else pos
            tags.append((START, name_start - 1, pos, name_start, name_end, attrs, href, ends))
        elif m.start("end") >= 0:
            end_start, end_end = m.span("end")
            tags.append((END, end_start - 2, pos, end_start, end_end, (), -1, -1))
        elif m.start("eof") >= 0:
            tags.append((EOF, pos, pos, pos, pos, (), -1, -1))
            return tags


scan: Callable[[str], list[RawTag]]
try:
    from ._scan import scan
except ImportError:  # pragma: no cover - built wherever a C compiler exists
    ACCELERATED = False
    scan = scan_reference
else:
    ACCELERATED = True


@functools.lru_cache(maxsize=64)
def _content_end_pattern(name: str) -> re.Pattern[str]:
    if name in ("a", "A"):
        # An <a> ends at its end tag, or where the next <a> starts (browsers close the first).
        return re.compile(rf"</?[aA]{_END}")
    return re.compile(rf"</{_ci(name)}{_END}")


def content_end(html: str, name: str, start: int) -> int:
    """Where the content of element ``name`` (as written), starting at ``start``, ends.

    Used for a link's anchor text only, so it searches plainly and ignores comment context.
    """
    m = _content_end_pattern(name).search(html, start)
    return m.start() if m else len(html)
