"""A message as an SMTP client submitted it, its control headers read and cut out.

Senders steer a relayed email with header fields, in Lettermint's vocabulary (the same
settings the API's body fields give):

==============================  ====================================================
header                          meaning
==============================  ====================================================
``X-LM-Override-Track-Opens``   true/false: this email's opens are tracked, or not
``X-LM-Override-Track-Clicks``  true/false: the same for its clicks
``X-LM-Tag``                    the message's tag (the API's ``tag``)
``X-LM-Metadata-<key>``         one metadata entry; ``key`` as written
``X-Lettermint-Route``          the slug of the route to send through
``Idempotency-Key``             accept this message at most once (24 hours)
==============================  ====================================================

They are removed before the message goes anywhere, and so are ``Bcc`` and ``Resent-Bcc``,
which would show every blind copy's recipients to all (Postfix's cleanup drops them too).
Removing means cutting the field's lines, folded continuation lines included, out of the
raw header block: nothing is parsed and written back, so every other header and every MIME
part keeps its exact bytes.

A message the relay cannot take raises :class:`RelayedMessageError`, a
:class:`~.errors.MailbeaconError` (core/errors.py) whose text says what is wrong (and names
the header)::

    MailbeaconError
    └── RelayedMessageError   no header block, no From, a control header's bad value
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from ..errors import InvalidOverride, RelayedMessageError
from ..instrumentation.mime import walk
from ..text import unstorable
from .mime_depth import MAX_DEPTH, nesting_depth
from .policy import TrackingOverrides, overrides_from_headers
from .submission import Address

__all__ = [
    "CONTROL_HEADERS",
    "METADATA_PREFIX",
    "HeaderField",
    "RelayedMessage",
    "add_fields",
    "header_fields",
    "read_relayed",
    "recipient_kinds",
]

# Lower-cased names of the headers read and removed; X-LM-Metadata-<key> too.
CONTROL_HEADERS = frozenset(
    {
        "x-lm-override-track-opens",
        "x-lm-override-track-clicks",
        "x-lm-tag",
        "x-lettermint-route",
        "idempotency-key",
    }
)
METADATA_PREFIX = "x-lm-metadata-"
_REMOVED = CONTROL_HEADERS | {"bcc", "resent-bcc"}
MAX_METADATA = 100  # entries, as the API allows
MAX_TAG = 255
MAX_KEY = 255  # Idempotency-Key characters, as the API allows
# The Lettermint API's rule for a tag (core.submission): words of letters, digits, - and _.
_TAG = re.compile(r"[a-zA-Z0-9_-]+(?:\s[a-zA-Z0-9_-]+)*")
# RFC 5322 2.2: a field name is printable ASCII but the colon; obsolete syntax (4.5.3) allows
# white space before the colon.
_FIELD_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")
_LINE_BREAK = re.compile(rb"\r?\n")


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One field of the top-level header block, by byte offsets into the message."""

    name: str  # as written
    start: int  # where its first line starts
    end: int  # after its last continuation line's line break
    value: str  # unfolded and stripped; undecodable bytes replaced


@dataclass(frozen=True, slots=True)
class RelayedMessage:
    raw: bytes  # the message without the removed fields, every other byte as submitted
    sender: Address  # the first mailbox of From
    subject: str | None  # RFC 2047 words decoded
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[str, ...]
    route: str | None
    overrides: TrackingOverrides
    tag: str | None
    metadata: dict[str, str]
    idempotency_key: str | None
    attachments: list[dict[str, object]] = field(default_factory=list)
    has_message_id: bool = True
    has_date: bool = True


def header_fields(raw: bytes) -> tuple[list[HeaderField], int]:
    """The fields of the top-level header block, and the offset where the block ends (the
    empty line before the body, or the end of a message without a body).

    Raises :class:`RelayedMessageError` for a line in the block that is neither a field nor
    a continuation of one: the client sent something that is not an RFC 5322 message.
    """
    fields: list[HeaderField] = []
    pos, number = 0, 0
    while pos < len(raw):
        newline = raw.find(b"\n", pos)
        end = len(raw) if newline < 0 else newline + 1
        line = raw[pos:end]
        number += 1
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise RelayedMessageError(
                    "The message starts with a folded line, not a header field."
                )
            last = fields[-1]
            fields[-1] = HeaderField(last.name, last.start, end, "")
        else:
            match = _FIELD_NAME.match(line)
            if match is None:
                shown = line.rstrip(b"\r\n")[:40].decode("ascii", "backslashreplace")
                raise RelayedMessageError(
                    f"Line {number} of the header is not a header field: {shown!r} "
                    "(a message starts with its header fields, then an empty line)."
                )
            fields.append(HeaderField(match.group(1).decode("ascii"), pos, end, ""))
        pos = end
    return [_with_value(raw, f) for f in fields], pos


def _with_value(raw: bytes, found: HeaderField) -> HeaderField:
    line = raw[found.start : found.end]
    colon = line.index(b":")
    value = _LINE_BREAK.sub(b"", line[colon + 1 :]).strip(b" \t")
    return HeaderField(found.name, found.start, found.end, value.decode("utf-8", "replace"))


def read_relayed(raw: bytes, *, max_depth: int = MAX_DEPTH) -> RelayedMessage:
    """Read ``raw`` (the bytes of DATA) and take the control headers, Bcc and Resent-Bcc out.

    Raises :class:`RelayedMessageError` saying what is wrong.
    """
    if not raw.strip():
        raise RelayedMessageError("The message is empty.")
    if nesting_depth(raw, stop_at=max_depth) > max_depth:
        raise RelayedMessageError(
            f"The message's MIME parts are nested more than {max_depth} levels deep."
        )
    fields, _ = header_fields(raw)
    if not fields:
        raise RelayedMessageError("The message has no header fields (From, To, Subject...).")
    by_name: dict[str, list[str]] = {}
    for found in fields:
        by_name.setdefault(found.name.lower(), []).append(found.value)
    sender = _sender(by_name.get("from", []))
    try:
        overrides = overrides_from_headers((f.name, f.value) for f in fields)
    except InvalidOverride as exc:
        raise RelayedMessageError(f"{exc} (use true or false).", header=exc.field) from exc
    key = _single(by_name, "idempotency-key", "Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise RelayedMessageError(
            f"The Idempotency-Key must be 1 to {MAX_KEY} characters.", header="Idempotency-Key"
        )
    kept = [f for f in fields if not _removed(f.name)]
    stripped = _cut(raw, [f for f in fields if _removed(f.name)])
    message = RelayedMessage(
        raw=stripped,
        sender=sender,
        subject=_decoded(by_name["subject"][0]) if "subject" in by_name else None,
        to=_addresses(by_name.get("to", [])),
        cc=_addresses(by_name.get("cc", [])),
        reply_to=tuple(a.formatted() for a in _addresses(by_name.get("reply-to", []))),
        route=_single(by_name, "x-lettermint-route", "X-Lettermint-Route") or None,
        overrides=overrides,
        tag=_tag(_single(by_name, "x-lm-tag", "X-LM-Tag")),
        metadata=_metadata(fields),
        idempotency_key=key,
        attachments=_attachments(stripped),
        has_message_id=any(f.name.lower() == "message-id" for f in kept),
        has_date=any(f.name.lower() == "date" for f in kept),
    )
    _check_storable(message)
    return message


def _check_storable(message: RelayedMessage) -> None:
    """What is stored of the headers holds no NUL (an encoded word can decode to one): the
    same permanent refusal on SQLite and PostgreSQL, not a storage error answered as
    temporary."""
    stored = {
        "From": [message.sender.name or "", message.sender.email],
        "Subject": message.subject or "",
        "To": [a.formatted() for a in message.to],
        "Cc": [a.formatted() for a in message.cc],
        "Reply-To": list(message.reply_to),
        "X-LM-Tag": message.tag or "",
        "X-LM-Metadata": message.metadata,
        "attachments": [str(a.get("filename") or "") for a in message.attachments],
    }
    problems = unstorable(stored)
    if problems:
        field = next(iter(problems)).split(".")[0]
        raise RelayedMessageError(
            f"The {field} header holds characters that cannot be stored (NUL).", header=field
        )


def _removed(name: str) -> bool:
    lowered = name.lower()
    return lowered in _REMOVED or lowered.startswith(METADATA_PREFIX)


def _cut(raw: bytes, fields: Sequence[HeaderField]) -> bytes:
    pieces, last = [], 0
    for found in fields:
        pieces.append(raw[last : found.start])
        last = found.end
    pieces.append(raw[last:])
    return b"".join(pieces)


def _single(by_name: dict[str, list[str]], lowered: str, name: str) -> str | None:
    """The value of a control header that may appear once (or repeated with one value)."""
    values = set(by_name.get(lowered, []))
    if len(values) > 1:
        shown = ", ".join(repr(v) for v in sorted(values))
        raise RelayedMessageError(f"{name} is given with different values: {shown}.", header=name)
    return values.pop() if values else None


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded; the value as written if they do not decode."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def _addresses(values: Iterable[str]) -> tuple[Address, ...]:
    return tuple(
        Address(email=email, name=_decoded(name) or None)
        for name, email in getaddresses(list(values))
        if email
    )


def _sender(values: list[str]) -> Address:
    if not values:
        raise RelayedMessageError("The message has no From header.", header="From")
    found = _addresses(values)
    if not found or "@" not in found[0].email:
        raise RelayedMessageError(
            f"The From header holds no valid address: {values[0][:80]!r}.", header="From"
        )
    return found[0]


def _tag(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > MAX_TAG or not _TAG.fullmatch(value):
        raise RelayedMessageError(
            f"X-LM-Tag {value[:80]!r} is not a tag: use up to {MAX_TAG} letters, digits, "
            "'-' and '_', words separated by single spaces.",
            header="X-LM-Tag",
        )
    return value


def _metadata(fields: Iterable[HeaderField]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in fields:
        if not item.name.lower().startswith(METADATA_PREFIX):
            continue
        key = item.name[len(METADATA_PREFIX) :]
        value = _decoded(item.value)
        if not key:
            raise RelayedMessageError(
                "X-LM-Metadata- needs a key after the prefix: X-LM-Metadata-<key>: <value>.",
                header=item.name,
            )
        if found.get(key, value) != value:
            raise RelayedMessageError(
                f"{item.name} is given with different values.", header=item.name
            )
        found[key] = value
    if len(found) > MAX_METADATA:
        raise RelayedMessageError(
            f"At most {MAX_METADATA} X-LM-Metadata-<key> headers are allowed, got {len(found)}.",
            header="X-LM-Metadata",
        )
    return found


def _attachments(raw: bytes) -> list[dict[str, object]]:
    """What the message record shows of each attachment: name, type, content id, size."""
    found: list[dict[str, object]] = []
    for part in walk(raw):
        if not part.attachment:
            continue
        headers = BytesHeaderParser(policy=compat32).parsebytes(
            raw[part.header_start : part.header_end]
        )
        content_id = headers.get("Content-ID")
        found.append(
            {
                "filename": _decoded(str(headers.get_filename() or "")) or None,
                "content_type": part.content_type,
                "content_id": str(content_id).strip("<> \t") if content_id else None,
                "size": _decoded_size(raw[part.body_start : part.body_end], part.transfer_encoding),
            }
        )
    return found


def _decoded_size(body: bytes, encoding: str) -> int:
    try:
        if encoding == "base64":
            return len(binascii.a2b_base64(body))
        if encoding == "quoted-printable":
            return len(binascii.a2b_qp(body))
    except binascii.Error:
        pass
    return len(body)


def recipient_kinds(envelope: Sequence[str], message: RelayedMessage) -> list[tuple[str, str]]:
    """Each envelope recipient once, with its kind: "to" or "cc" when the header names it,
    otherwise "bcc". The envelope decides who gets a copy; the headers only label."""
    to = {a.email.lower() for a in message.to}
    cc = {a.email.lower() for a in message.cc}
    seen: set[str] = set()
    kinds: list[tuple[str, str]] = []
    for address in envelope:
        lowered = address.lower()
        if lowered in seen:
            continue
        seen.add(lowered)
        kinds.append((address, "to" if lowered in to else "cc" if lowered in cc else "bcc"))
    return kinds


def add_fields(raw: bytes, fields: Sequence[tuple[str, str]]) -> bytes:
    """``raw`` with ``fields`` appended to its header block, in the message's line breaks;
    every byte of ``raw`` stays where it was relative to its neighbours."""
    if not fields:
        return raw
    _, end = header_fields(raw)
    newline = b"\r\n" if b"\r\n" in raw[: end + 2] else b"\n"
    added = b"".join(f"{name}: {value}".encode() + newline for name, value in fields)
    head = raw[:end]
    if head and not head.endswith(b"\n"):  # a header block with no final line break
        head += newline
    return head + added + raw[end:]
