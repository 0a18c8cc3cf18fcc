"""Instrument a whole RFC 5322 message, changing only the bodies of its HTML parts.

Why not ``email.message``: serialising a parsed message re-folds headers, rewrites boundaries and
re-encodes bodies, so DKIM-relevant headers and attachments would change. This module finds
part boundaries in the raw bytes, decodes only the ``text/html`` parts (any depth of
multipart/alternative, related or mixed), instruments them and re-encodes each with its own
transfer encoding and charset. Every header and every other part stays byte-identical.

Not instrumented: attachments (``Content-Disposition: attachment``), forwarded messages
(``message/rfc822`` is opaque), and text parts, which are never touched.

As with HTML, the work is split: :func:`plan_message` decodes and analyses once per message,
:meth:`MessagePlan.render` produces one recipient's copy.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from ..errors import MimePartError
from .beacons import GMAIL_CLIP_BYTES, PixelPosition
from .linkrules import LinkRules
from .rewrite import HtmlPlan, SkippedLink, TrackedLink, Tracker, plan_html

__all__ = [
    "InstrumentedMessage",
    "MessagePlan",
    "MimePart",
    "PartReport",
    "instrument_message",
    "plan_message",
    "walk",
]

MAX_LINE = 998  # RFC 5322: longest line a 7bit or 8bit body may carry, without CRLF
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NEWLINE = re.compile(rb"\r?\n")
_ANGLE_URL = re.compile(r"<\s*(https?://[^>\s]+)\s*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MimePart:
    """A leaf part of a message, by byte offsets into the raw message."""

    path: str  # IMAP section number: "1" for a single-part message, "2.1" nested
    content_type: str  # lower-cased, e.g. "text/html"
    charset: str | None  # as declared, lower-cased
    transfer_encoding: str  # lower-cased; "7bit" when not declared
    attachment: bool
    header_start: int
    header_end: int  # where the empty line after the headers starts
    body_start: int
    body_end: int


def walk(raw: bytes) -> list[MimePart]:
    """The leaf parts of ``raw`` in document order (multipart containers are descended)."""
    parts: list[MimePart] = []
    _walk(raw, 0, len(raw), "", parts, "text/plain")
    return parts


def _walk(
    raw: bytes, start: int, end: int, path: str, out: list[MimePart], default_type: str
) -> None:
    header_end, body_start = _split(raw, start, end)
    headers = _parse_headers(raw[start:header_end], default_type)
    content_type = headers.get_content_type()
    if headers.get_content_maintype() == "multipart":
        boundary = headers.get_param("boundary")
        if isinstance(boundary, str) and boundary:
            children = _children(raw, body_start, end, boundary.encode("latin-1", "replace"))
            child_default = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
            for number, (child_start, child_end) in enumerate(children, 1):
                child_path = f"{path}.{number}" if path else str(number)
                _walk(raw, child_start, child_end, child_path, out, child_default)
            return
    encoding = str(headers.get("Content-Transfer-Encoding", "7bit")).strip().lower() or "7bit"
    charset = headers.get_content_charset()
    out.append(
        MimePart(
            path=path or "1",
            content_type=content_type,
            charset=charset.lower() if charset else None,
            transfer_encoding=encoding,
            attachment=headers.get_content_disposition() == "attachment",
            header_start=start,
            header_end=header_end,
            body_start=body_start,
            body_end=end,
        )
    )


def _split(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """(end of the header block, start of the body) of the entity at [start, end)."""
    if raw.startswith(b"\r\n", start):
        return start, start + 2  # no headers at all
    if raw.startswith(b"\n", start):
        return start, start + 1
    m = _HEADER_END.search(raw, start, end)
    if m is None:
        return end, end  # headers only
    first_newline = raw.index(b"\n", m.start()) + 1
    return first_newline, m.end()


def _parse_headers(block: bytes, default_type: str) -> Message:
    headers = BytesHeaderParser(policy=compat32).parsebytes(block)
    headers.set_default_type(default_type)
    return headers


def _children(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Byte ranges of the body parts of a multipart body at [start, end).

    A delimiter is "--boundary" at the start of a line; the line break before it belongs to the
    delimiter, not to the part (RFC 2046, 5.1.1). Without a close delimiter the last part runs
    to the end.
    """
    delimiter = re.compile(rb"--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    ranges: list[tuple[int, int]] = []
    part_start = -1
    for m in delimiter.finditer(raw, start, end):
        at = m.start()
        if at != start and raw[at - 1] != 0x0A:
            continue  # not at the start of a line: part of the content
        if part_start >= 0:
            stop = at
            if raw[stop - 2 : stop] == b"\r\n" and stop - 2 >= part_start:
                stop -= 2
            elif raw[stop - 1 : stop] == b"\n" and stop - 1 >= part_start:
                stop -= 1
            ranges.append((part_start, stop))
        if m.group(1):
            return ranges
        part_start = m.end()
    if part_start >= 0:
        ranges.append((part_start, end))
    return ranges


@dataclass(frozen=True, slots=True)
class PartReport:
    path: str
    charset: str
    transfer_encoding: str  # as re-encoded (quoted-printable if long lines forced it)
    size: int  # bytes of the instrumented HTML in its charset, before transfer encoding
    link_count: int

    @property
    def clipped_by_gmail(self) -> bool:
        return self.size > GMAIL_CLIP_BYTES


@dataclass(frozen=True, slots=True)
class InstrumentedMessage:
    raw: bytes
    links: tuple[TrackedLink, ...]
    skipped: tuple[SkippedLink, ...]
    parts: tuple[PartReport, ...]  # the HTML parts, instrumented

    @property
    def clipped_by_gmail(self) -> bool:
        return any(part.clipped_by_gmail for part in self.parts)


@dataclass(frozen=True, slots=True)
class _HtmlPart:
    part: MimePart
    charset: str  # the codec actually used
    plan: HtmlPlan


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """A message's HTML parts, decoded and analysed, ready to render per recipient."""

    raw: bytes
    html_parts: tuple[_HtmlPart, ...]

    def render(
        self,
        tracker: Tracker,
        *,
        opens: bool = True,
        clicks: bool = True,
        pixel_position: PixelPosition = PixelPosition.TOP,
        honeypot: bool = False,
    ) -> InstrumentedMessage:
        pieces: list[bytes] = []
        links: list[TrackedLink] = []
        skipped: list[SkippedLink] = []
        reports: list[PartReport] = []
        last = 0
        for html_part in self.html_parts:
            part = html_part.part
            result = html_part.plan.render(
                tracker,
                opens=opens,
                clicks=clicks,
                pixel_position=pixel_position,
                honeypot=honeypot,
                first_link_index=len(links),
            )
            links.extend(result.links)
            skipped.extend(result.skipped)
            data = result.html.encode(html_part.charset, "surrogateescape")
            body, encoding = _encode(data, part, self.raw[part.body_start : part.body_end])
            if encoding != part.transfer_encoding:
                pieces.append(self.raw[last : part.header_start])
                pieces.append(
                    _with_encoding(self.raw[part.header_start : part.header_end], encoding)
                )
                last = part.header_end
            pieces.append(self.raw[last : part.body_start])
            pieces.append(body)
            last = part.body_end
            reports.append(
                PartReport(part.path, html_part.charset, encoding, len(data), len(result.links))
            )
        pieces.append(self.raw[last:])
        return InstrumentedMessage(b"".join(pieces), tuple(links), tuple(skipped), tuple(reports))


def plan_message(raw: bytes, rules: LinkRules | None = None) -> MessagePlan:
    """Decode and analyse the HTML parts of ``raw``. The top-level ``List-Unsubscribe`` targets
    join the rules' unsubscribe links. Raises :class:`MimePartError` naming a part that cannot
    be decoded, or would not re-encode to the same bytes."""
    rules = (rules or LinkRules()).including(unsubscribe_urls=list_unsubscribe_urls(raw))
    html_parts = []
    for part in walk(raw):
        if part.content_type != "text/html" or part.attachment:
            continue
        text, charset = _decode(part, raw[part.body_start : part.body_end])
        html_parts.append(_HtmlPart(part, charset, plan_html(text, rules)))
    return MessagePlan(raw, tuple(html_parts))


def instrument_message(
    raw: bytes,
    tracker: Tracker,
    *,
    opens: bool = True,
    clicks: bool = True,
    rules: LinkRules | None = None,
    pixel_position: PixelPosition = PixelPosition.TOP,
    honeypot: bool = False,
) -> InstrumentedMessage:
    """Instrument every HTML part of ``raw`` for one recipient; nothing else changes."""
    rules = (rules or LinkRules()).including(tracking_hosts=[tracker.host])
    return plan_message(raw, rules).render(
        tracker, opens=opens, clicks=clicks, pixel_position=pixel_position, honeypot=honeypot
    )


def list_unsubscribe_urls(raw: bytes) -> list[str]:
    """The http(s) targets of the message's top-level List-Unsubscribe header (RFC 2369)."""
    header_end, _ = _split(raw, 0, len(raw))
    value = _parse_headers(raw[:header_end], "text/plain").get("List-Unsubscribe")
    return _ANGLE_URL.findall(str(value)) if value else []


def _decode(part: MimePart, body: bytes) -> tuple[str, str]:
    """The part's HTML as text, and the codec that round-trips it."""
    encoding = part.transfer_encoding
    try:
        if encoding == "base64":
            data = binascii.a2b_base64(body)
        elif encoding == "quoted-printable":
            data = binascii.a2b_qp(body)
        elif encoding in ("7bit", "8bit", "binary"):
            data = body
        else:
            raise _problem(part, f"unsupported Content-Transfer-Encoding {encoding!r}")
    except binascii.Error as exc:
        raise _problem(part, f"its {encoding} body does not decode: {exc}") from exc
    # Without a declared charset, try UTF-8, then Latin-1 (which decodes any bytes): both
    # re-encode to exactly the bytes they decoded, and we insert only ASCII.
    candidates = [part.charset] if part.charset else ["utf-8", "latin-1"]
    for name in candidates:
        try:
            codec = codecs.lookup(name).name
        except LookupError as exc:
            raise _problem(part, f"unknown charset {name!r}") from exc
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            if part.charset:
                raise _problem(part, f"its body is not valid {name}: {exc.reason}") from exc
            continue
        if text.encode(codec) != data:
            raise _problem(part, f"charset {name!r} does not round-trip its bytes")
        return text, codec
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def _problem(part: MimePart, problem: str) -> MimePartError:
    return MimePartError(part.path, part.content_type, problem)


def _encode(data: bytes, part: MimePart, original: bytes) -> tuple[bytes, str]:
    """``data`` in the part's transfer encoding, laid out like ``original``; a 7bit or 8bit
    part whose lines rewriting made too long becomes quoted-printable instead."""
    encoding = part.transfer_encoding
    crlf = b"\r\n" in original
    if encoding == "base64":
        return _base64(data, original, crlf), encoding
    if encoding in ("7bit", "8bit") and any(len(line) > MAX_LINE for line in _NEWLINE.split(data)):
        encoding = "quoted-printable"
    if encoding == "quoted-printable":
        encoded = binascii.b2a_qp(data, istext=True)
        if crlf and b"\r\n" not in encoded:
            encoded = _NEWLINE.sub(b"\r\n", encoded)
        return encoded, encoding
    return data, encoding


def _base64(data: bytes, original: bytes, crlf: bool) -> bytes:
    first = _NEWLINE.split(original.lstrip(b"\r\n"), maxsplit=1)[0]
    width = len(first) if first and len(first) % 4 == 0 and len(first) <= 76 else 76
    encoded = binascii.b2a_base64(data, newline=False)
    newline = b"\r\n" if crlf else b"\n"
    lines = [encoded[i : i + width] for i in range(0, len(encoded), width)]
    body = newline.join(lines)
    return body + newline if original.endswith(b"\n") else body


_CTE_HEADER = re.compile(rb"(?im)^content-transfer-encoding[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")


def _with_encoding(headers: bytes, encoding: str) -> bytes:
    """The part's header block with its Content-Transfer-Encoding set to ``encoding``."""
    line = b"Content-Transfer-Encoding: " + encoding.encode("ascii")
    replaced, count = _CTE_HEADER.subn(line, headers, count=1)
    if count:
        return replaced
    newline = b"\r\n" if headers.endswith(b"\r\n") else b"\n"
    return headers + line + newline
