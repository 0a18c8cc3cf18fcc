"""Whole messages: only HTML bodies change; every header and every other part keeps its bytes."""

from __future__ import annotations

import base64
import quopri
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.errors import MimePartError
from mailbeacon.core.instrumentation.mime import instrument_message, plan_message, walk
from mailbeacon.core.instrumentation.tokens import Keyring, TokenCodec
from mailbeacon.core.instrumentation.tracker import CopyTracker

TODAY = date(2026, 11, 23)
CODEC = TokenCodec(Keyring.parse("1:" + "m" * 40))
HTML = (
    "<html><body><p>Caf\u00e9 cr\u00e8me, na\u00efve \u00e0 la carte.</p>"
    '<a href="https://shop.example/p?id=1&amp;c=2">Buy \u00e9clair</a>'
    '<a href="mailto:x@shop.example">mail</a></body></html>'
)
TEXT = "Caf\u00e9 https://shop.example/p?id=1\n"


def tracker(copy_id: int = 1) -> CopyTracker:
    return CopyTracker(CODEC, "https://t.example.com", copy_id, TODAY)


def alternative(charset: str, cte: str, *, html: str = HTML, crlf: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Shop <shop@shop.example>"
    msg["To"] = "a@example.org"
    msg["Subject"] = "A long subject line that the serialiser would love to fold differently ok"
    msg.set_content(TEXT, charset=charset, cte=cte)
    msg.add_alternative(html, subtype="html", charset=charset, cte=cte)
    return msg.as_bytes(policy=policy.SMTP if crlf else policy.default)


def html_of(raw: bytes) -> str:
    parsed = message_from_bytes(raw, policy=policy.default)
    part = parsed.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def outside_html_bodies(raw: bytes) -> bytes:
    """The message with its HTML part bodies cut out."""
    out, last = [], 0
    for part in walk(raw):
        if part.content_type == "text/html":
            out.append(raw[last : part.body_start])
            last = part.body_end
    out.append(raw[last:])
    return b"".join(out)


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1"])
@pytest.mark.parametrize("cte", ["quoted-printable", "base64", "8bit"])
@pytest.mark.parametrize("crlf", [False, True])
def test_round_trip_changes_only_the_html_body(charset: str, cte: str, crlf: bool) -> None:
    raw = alternative(charset, cte, crlf=crlf)
    result = instrument_message(raw, tracker())
    assert outside_html_bodies(result.raw) == outside_html_bodies(raw)
    (report,) = result.parts
    assert report.transfer_encoding == cte
    assert report.charset == {"utf-8": "utf-8", "iso-8859-1": "iso8859-1"}[charset]
    html = html_of(result.raw)
    (link,) = result.links
    assert link.url == "https://shop.example/p?id=1&c=2"
    assert link.anchor_text == "Buy \u00e9clair"
    # the decoded HTML is the original with the href swapped and the pixel added
    restored = html.replace(link.tracking_url, "https://shop.example/p?id=1&amp;c=2")
    assert restored.replace(_pixel(html), "") == html_of(raw)
    assert ("\r\n" in result.raw.decode("latin-1")) == crlf


def _pixel(html: str) -> str:
    start = html.index("<img ")
    return html[start : html.index("/>", start) + 2]


def test_the_part_keeps_its_charset_bytes() -> None:
    raw = alternative("iso-8859-1", "8bit")
    result = instrument_message(raw, tracker())
    (part,) = [p for p in walk(result.raw) if p.content_type == "text/html"]
    body = result.raw[part.body_start : part.body_end]
    assert "Caf\u00e9".encode("iso-8859-1") in body
    assert "Caf\u00e9".encode() not in body


def test_nested_multiparts_attachments_and_inline_images_stay_byte_identical() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = "Nested"
    msg.set_content("text")
    msg.add_alternative(HTML, subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", cid="<logo>")
    msg.add_attachment(
        b"%PDF-1.4 binary \x00\xff", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    msg.add_attachment(
        "<html><a href='https://x.example/'>x</a></html>", subtype="html", filename="attached.html"
    )
    raw = bytes(msg)
    result = instrument_message(raw, tracker())
    paths = [p.path for p in walk(raw)]
    assert paths == ["1.1", "1.2.1", "1.2.2", "2", "3"]
    assert [r.path for r in result.parts] == ["1.2.1"]  # not the attached HTML
    before = {p.path: raw[p.header_start : p.body_end] for p in walk(raw)}
    after = {p.path: result.raw[p.header_start : p.body_end] for p in walk(result.raw)}
    for path in ("1.1", "1.2.2", "2", "3"):
        assert after[path] == before[path]
    assert len(result.links) == 1


def test_every_html_part_is_instrumented_and_link_indexes_continue() -> None:
    boundary = "b1"
    raw = (
        "From: a@example.com\nTo: b@example.com\nSubject: two\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\n\npreamble\n'
        f"--{boundary}\nContent-Type: text/html\n\n<a href='https://a.example/1'>1</a>\n"
        f"--{boundary}\nContent-Type: text/html; charset=utf-8\n\n"
        "<a href='https://a.example/2'>2</a>\n"
        f"--{boundary}--\nepilogue\n"
    ).encode()
    result = instrument_message(raw, tracker())
    assert [link.link_index for link in result.links] == [0, 1]
    assert result.raw.startswith(raw[: raw.index(b"--b1\n")])
    assert result.raw.endswith(b"\n--b1--\nepilogue\n")


def test_plain_text_only_messages_are_not_touched() -> None:
    msg = EmailMessage()
    msg["Subject"] = "plain"
    msg.set_content("see https://example.com/")
    raw = bytes(msg)
    result = instrument_message(raw, tracker())
    assert result.raw == raw
    assert result.links == ()
    assert result.parts == ()


def test_list_unsubscribe_targets_are_never_rewritten() -> None:
    html = '<body><a href="https://lists.example/o/9">leave</a></body>'
    msg = EmailMessage()
    msg["Subject"] = "list"
    msg["List-Unsubscribe"] = "<mailto:leave@lists.example>, <https://lists.example/o/9>"
    msg.set_content(html, subtype="html")
    result = instrument_message(bytes(msg), tracker())
    assert result.links == ()
    assert result.skipped[0].reason.value == "unsubscribe"


def test_long_lines_in_a_7bit_part_switch_it_to_quoted_printable() -> None:
    links = "".join(f"<a href=https://a.example/{i}>{i}</a>" for i in range(25))
    raw = (
        "Subject: long\nMIME-Version: 1.0\nContent-Type: text/html; charset=us-ascii\n"
        "Content-Transfer-Encoding: 7bit\n\n" + links + "\n"
    ).encode()
    assert max(len(line) for line in raw.split(b"\n")) < 998
    result = instrument_message(raw, tracker())
    assert result.parts[0].transfer_encoding == "quoted-printable"
    assert b"Content-Transfer-Encoding: quoted-printable\n" in result.raw
    assert max(len(line) for line in result.raw.split(b"\n")) <= 76
    assert len(result.links) == 25
    body = result.raw.split(b"\n\n", 1)[1]
    assert quopri.decodestring(body).count(b"https://t.example.com/c/") == 25


@pytest.mark.parametrize(
    ("headers", "body", "problem"),
    [
        ("Content-Type: text/html; charset=klingon", b"<p>x</p>", "unknown charset 'klingon'"),
        ("Content-Type: text/html; charset=utf-8", b"<p>\xff\xfe</p>", "not valid utf-8"),
        (
            "Content-Type: text/html\nContent-Transfer-Encoding: x-uuencode",
            b"x",
            "unsupported Content-Transfer-Encoding",
        ),
        ("Content-Type: text/html\nContent-Transfer-Encoding: base64", b"A", "does not decode"),
    ],
)
def test_undecodable_parts_raise_an_error_naming_the_part(
    headers: str, body: bytes, problem: str
) -> None:
    raw = b"Subject: bad\nMIME-Version: 1.0\n" + headers.encode() + b"\n\n" + body
    with pytest.raises(MimePartError, match=problem) as info:
        plan_message(raw)
    assert info.value.part == "1"
    assert "MIME part 1 (text/html)" in str(info.value)


@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200),
    st.sampled_from(["quoted-printable", "base64", "8bit"]),
)
def test_any_utf8_html_round_trips(text: str, cte: str) -> None:
    html = f'<body><p>{text.replace("<", "&lt;")}</p><a href="https://a.example/">x</a></body>'
    raw = alternative("utf-8", cte, html=html)
    result = instrument_message(raw, tracker())
    out = html_of(result.raw)
    (link,) = result.links
    restored = out.replace(link.tracking_url, "https://a.example/").replace(_pixel(out), "")
    assert restored == html_of(raw)
    assert outside_html_bodies(result.raw) == outside_html_bodies(raw)


def test_base64_bodies_keep_their_line_layout() -> None:
    raw = alternative("utf-8", "base64")
    result = instrument_message(raw, tracker())
    (part,) = [p for p in walk(result.raw) if p.content_type == "text/html"]
    lines = result.raw[part.body_start : part.body_end].split(b"\n")
    assert all(len(line) <= 76 for line in lines)
    assert base64.b64decode(b"".join(lines)).decode().count("https://t.example.com/c/") == 1


def test_one_plan_renders_every_recipient() -> None:
    plan = plan_message(alternative("utf-8", "quoted-printable"))
    first, second = plan.render(tracker(1)), plan.render(tracker(2))
    assert first.raw != second.raw
    assert first.links[0].url == second.links[0].url
