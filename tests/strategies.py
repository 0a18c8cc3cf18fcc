"""Hypothesis strategies for email HTML that knows which of its links must be tracked.

Each generator returns a :class:`Doc` chunk: its text and, in order, the destinations of the
links a correct rewriter tracks in it. Chunks compose, so a generated document carries its
own oracle: links hidden in comments, scripts, styles, titles and attribute values must not
appear; links in Outlook conditional comments and VML must.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st


@dataclass(frozen=True)
class Doc:
    text: str
    tracked: tuple[str, ...] = field(default=())  # destinations, in document order

    def __add__(self, other: Doc) -> Doc:
        return Doc(self.text + other.text, self.tracked + other.tracked)


# Destinations that must be tracked, as written in HTML and as a browser decodes them.
TRACKED_URLS = st.sampled_from(
    [
        ("https://example.com/", "https://example.com/"),
        ("http://example.com/p?a=1&amp;b=2", "http://example.com/p?a=1&b=2"),
        ("https://example.com/p?a=1&b=2", "https://example.com/p?a=1&b=2"),
        ("https://example.com/?x=1&copy=2", "https://example.com/?x=1&copy=2"),
        ("https://example.com/caf\u00e9/\u4e2d", "https://example.com/caf\u00e9/\u4e2d"),
        ("https://example.com/a&#x2F;b", "https://example.com/a/b"),
        ("HTTPS://EXAMPLE.COM/UP", "HTTPS://EXAMPLE.COM/UP"),
        ("  https://example.com/padded  ", "https://example.com/padded"),
        ("https://example.com/?q=%20%41", "https://example.com/?q=%20%41"),
        ("https://user@example.com:8443/x#frag", "https://user@example.com:8443/x#frag"),
        ("https://example.com/it's", "https://example.com/it's"),
    ]
)
# Destinations that stay as written.
SKIPPED_URLS = st.sampled_from(
    [
        "mailto:a@example.com",
        "tel:+15555550100",
        "sms:+15555550100",
        "javascript:void(0)",
        "data:text/plain,hi",
        "#section",
        "/relative/path",
        "//example.com/protocol-relative",
        "https://example.com/{{ user.id }}",
        "*|UNSUB|*",
        "https://example.com/%%unsub%%",
        "https://example.com/unsubscribe?u=1",
        "https://example.com/Account/UnSubscribe",
        "https://t.track.example/c/abc",
        "",
    ]
)
SAFE_TEXT = st.text(
    alphabet=st.sampled_from(list("abc XYZ\n\t\u00e9\u4e2d\U0001f600<>&;=\"'/!?-#")), max_size=20
).map(lambda t: t.replace("<", "&lt;").replace(">", "&gt;"))
LOOSE_TEXT = st.sampled_from(["a < b", "x<3", "1 <= 2", "AT&T", "&copy; 2026", "&amp;&nbsp;"])


def _quote(value: str, quote: str) -> str:
    if quote == "" and (value == "" or any(c in value for c in " \t\n\"'=<>`")):
        quote = '"'  # an unquoted value cannot hold these
    if quote and quote in value:
        quote = "'" if quote == '"' else '"'
    if quote and quote in value:
        return '"' + value.replace('"', "&quot;") + '"'
    return f"{quote}{value}{quote}"


@st.composite
def link(draw: st.DrawFn) -> Doc:
    """An <a> or <area> or VML shape with an href, tracked or skipped."""
    tracked = draw(st.booleans())
    if tracked:
        written, url = draw(TRACKED_URLS)
    else:
        written = url = draw(SKIPPED_URLS)
    opt_out = tracked and draw(st.integers(0, 6)) == 0
    quote = draw(st.sampled_from(['"', "'", ""]))
    element = draw(st.sampled_from(["a", "A", "area", "v:roundrect", "V:Rect"]))
    href = draw(st.sampled_from(["href", "HREF", "Href"]))
    before = draw(st.sampled_from(["", ' class="btn"', " style='color:red'", " target=_blank"]))
    after = draw(st.sampled_from(["", ' title="a > b"', " data-x=1", ' alt="pic"']))
    if opt_out:
        after += draw(st.sampled_from([' data-mailbeacon-track="off"', " data-msys-clicktrack=0"]))
    attrs = f"{before} {href}={_quote(written, quote)}{after}"
    text = draw(SAFE_TEXT)
    if element.lower() == "area":
        markup = f"<{element}{attrs}>"
    else:
        markup = f"<{element}{attrs}>{text}</{element}>"
    return Doc(markup, (url,) if tracked and not opt_out else ())


@st.composite
def hidden(draw: st.DrawFn) -> Doc:
    """Markup whose links are not rendered, so never tracked."""
    written, _ = draw(TRACKED_URLS)
    inner = f'<a href="{written}">x</a>'
    return Doc(
        draw(
            st.sampled_from(
                [
                    f"<!-- {inner} -->",
                    f"<!--{inner}--!>",
                    f"<script>document.write('{inner}')</script>",
                    f"<style>/* {inner} */ a{{color:red}}</style>",
                    f"<title>{inner}</title>",
                    f"<textarea>{inner}</textarea>",
                    f'<img alt="{inner.replace(chr(34), chr(39))}" src="x.png">',
                    f"<div title='{inner.replace(chr(39), chr(34))}'>x</div>",
                ]
            )
        )
    )


@st.composite
def ordinary(draw: st.DrawFn) -> Doc:
    return Doc(
        draw(
            st.sampled_from(
                [
                    "<p>",
                    "</p>",
                    "<table role=presentation><tr><td>",
                    "</td></tr></table>",
                    "<br/>",
                    "<BR>",
                    '<img src="https://cdn.example.com/a.png" width=1 />',
                    "<abbr title=x>",
                    "<b>",
                    "</b>",
                    "<!DOCTYPE html>",
                    "<meta charset=utf-8>",
                    "<w:anchorlock/>",
                    "<o:p></o:p>",
                ]
            )
        )
        + draw(SAFE_TEXT)
    )


def chunks(depth: int) -> st.SearchStrategy[Doc]:
    leaf = st.one_of(link(), hidden(), ordinary(), SAFE_TEXT.map(Doc), LOOSE_TEXT.map(Doc))
    if depth == 0:
        return leaf
    inner = st.lists(chunks(depth - 1), max_size=4).map(lambda ds: sum(ds, Doc("")))
    conditional = inner.flatmap(
        lambda d: st.sampled_from(
            [
                Doc("<!--[if mso]>") + d + Doc("<![endif]-->"),
                Doc("<!--[if mso | IE]>") + d + Doc("<![endif]-->"),
                Doc("<!--[if !mso]><!-->") + d + Doc("<!--<![endif]-->"),
            ]
        )
    )
    return st.one_of(leaf, conditional)


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    """A whole document: maybe a doctype and head, maybe a body, then chunks."""
    body = sum(draw(st.lists(chunks(2), max_size=12)), Doc(""))
    shape = draw(st.sampled_from(["fragment", "body", "full"]))
    if shape == "fragment":
        return body
    if shape == "body":
        return Doc("<body>") + body + Doc("</body>")
    return (
        Doc('<!DOCTYPE html>\n<html lang="en">\n<head><title>T</title>')
        + Doc("<style>a{color:red}</style></head>\n<BODY style='margin:0'>")
        + body
        + Doc("</BODY>\n</html>\n")
    )


# Arbitrary text with enough HTML syntax in it to exercise every tokenizer state.
_PIECES = [
    *"<>/!?-=\"' \t\nabrvhefdytlsoxAV:[]\u00e9\U0001f600",
    *["<a ", "<area ", "</a>", "<v:rect ", "</v:rect>", "<body>", "</body>", "href=", "<!--"],
    *["-->", "<!--[if mso]>", "<![endif]-->", "<style>", "</style>", "<script>", "</script>"],
    *["<title>", "</title>", "<textarea>", "--!>", "<!-->", "<?x ", "</ ", "<v:", '="', "='"],
]
HTMLISH = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)
