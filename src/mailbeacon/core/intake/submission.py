"""One email to send, normalised from whichever API it arrived through.

``from_lettermint`` and ``from_lettr`` read the two products' request bodies (docs/contracts.md)
into a :class:`Submission`; every problem is collected per field into a
:class:`SubmissionError` (rendered as a 422 with ``errors: {field: [message, ...]}``).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from ..errors import InvalidOverride, SubmissionError
from .policy import TrackingOverrides, overrides_from_lettermint, overrides_from_lettr

__all__ = [
    "Address",
    "Attachment",
    "Submission",
    "from_lettermint",
    "from_lettr",
    "parse_address",
]

MAX_RECIPIENTS = 500  # to + cc + bcc of one message (each gets an instrumented copy)
MAX_SUBJECT = 998
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")
_TAG = re.compile(r"[a-zA-Z0-9_-]+(?:\s[a-zA-Z0-9_-]+)*")
_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# Headers the message structure owns: a sender cannot set them through "headers".
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str | None = None

    def formatted(self) -> str:
        from email.utils import formataddr

        return formataddr((self.name, self.email)) if self.name else self.email


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None  # set: an inline part the HTML refers to as cid:...


@dataclass(frozen=True, slots=True)
class Submission:
    sender: Address
    to: tuple[Address, ...]
    subject: str
    html: str | None
    text: str | None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    tag: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    route: str | None = None
    overrides: TrackingOverrides = field(default_factory=TrackingOverrides)
    transactional: bool = True
    preserve_message_id: bool = False


class _Collector:
    """Gathers field errors, so one response lists every problem."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_any(self) -> None:
        if self.errors:
            raise SubmissionError(self.errors)


def parse_address(value: str) -> Address | None:
    """``"Name <addr>"`` or a bare address; None if it is not a usable address."""
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        return None
    name, email = parseaddr(value)
    if not email or not _EMAIL.fullmatch(email):
        return None
    return Address(email=email, name=name or None)


def _string(
    body: Mapping[str, Any],
    name: str,
    errors: _Collector,
    *,
    required: bool = False,
    limit: int | None = None,
    label: str | None = None,
) -> str | None:
    label = label or name
    value = body.get(name)
    if value is None or (value == "" and required):
        if required:
            errors.add(label, f"The {label} field is required.")
        return None
    if not isinstance(value, str):
        errors.add(label, f"The {label} field must be a string.")
        return None
    if limit is not None and len(value) > limit:
        errors.add(label, f"The {label} field must not be longer than {limit} characters.")
    return value


def _addresses(
    value: Any, label: str, errors: _Collector, *, required: bool = False, single: bool = False
) -> tuple[Address, ...]:
    if value is None or value == [] or value == "":
        if required:
            errors.add(label, f"The {label} field is required.")
        return ()
    items = [value] if single and isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        kind = "string" if single else "list of addresses"
        errors.add(label, f"The {label} field must be a {kind}.")
        return ()
    found = []
    for index, item in enumerate(items):
        address = parse_address(item)
        if address is None:
            errors.add(
                f"{label}.{index}" if not single else label,
                f"{item!r} is not a valid email address.",
            )
        else:
            found.append(address)
    return tuple(found)


def _string_map(value: Any, label: str, errors: _Collector, *, limit: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        errors.add(label, f"The {label} field must be an object of strings.")
        return {}
    if len(value) > limit:
        errors.add(label, f"The {label} field may hold at most {limit} entries.")
    return dict(value)


def _headers(value: Any, errors: _Collector, *, limit: int) -> tuple[tuple[str, str], ...]:
    found = _string_map(value, "headers", errors, limit=limit)
    for name, header_value in found.items():
        if not _HEADER_NAME.fullmatch(name):
            errors.add("headers", f"{name!r} is not a valid header name.")
        elif name.lower() in _RESERVED_HEADERS:
            errors.add("headers", f"The {name} header is set from the request's own fields.")
        if "\r" in header_value or "\n" in header_value:
            errors.add("headers", f"The {name} header value must not contain line breaks.")
    return tuple(found.items())


def _attachment(
    item: Any, label: str, errors: _Collector, *, keys: tuple[str, str, str]
) -> Attachment | None:
    name_key, data_key, type_key = keys
    if not isinstance(item, dict):
        errors.add(label, f"The {label} field must be an object.")
        return None
    filename, data = item.get(name_key), item.get(data_key)
    if not isinstance(filename, str) or not filename or "/" in filename or "\\" in filename:
        errors.add(f"{label}.{name_key}", "A file name without slashes is required.")
        return None
    if not isinstance(data, str):
        errors.add(f"{label}.{data_key}", "The content must be a base64 string.")
        return None
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        errors.add(f"{label}.{data_key}", "The content is not valid base64.")
        return None
    content_type = item.get(type_key) or mimetypes.guess_type(filename)[0]
    if not isinstance(content_type, str) or content_type.count("/") != 1:
        content_type = "application/octet-stream"
    content_id = item.get("content_id")
    if content_id is not None and not isinstance(content_id, str):
        errors.add(f"{label}.content_id", "The content_id must be a string.")
        content_id = None
    return Attachment(filename, content, content_type, content_id or None)


def _attachments(
    value: Any, errors: _Collector, *, keys: tuple[str, str, str]
) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.add("attachments", "The attachments field must be a list.")
        return ()
    found = (
        _attachment(item, f"attachments.{i}", errors, keys=keys) for i, item in enumerate(value)
    )
    return tuple(a for a in found if a is not None)


def _overrides(reader: Any, value: Any, label: str, errors: _Collector) -> TrackingOverrides:
    if value is None:
        return TrackingOverrides()
    if not isinstance(value, dict):
        errors.add(label, f"The {label} field must be an object.")
        return TrackingOverrides()
    try:
        overrides: TrackingOverrides = reader(value)
    except InvalidOverride as exc:
        errors.add(exc.field, f"The {exc.field} field must be true or false.")
        return TrackingOverrides()
    return overrides


def _body_and_limits(
    errors: _Collector, html: str | None, text: str | None, recipients: int
) -> None:
    if html is None and text is None:
        errors.add("html", "Either html or text is required.")
    if recipients > MAX_RECIPIENTS:
        errors.add("to", f"A message may have at most {MAX_RECIPIENTS} recipients in all.")


def from_lettermint(body: Any) -> Submission:
    """Lettermint's SendMailRequest (docs/contracts.md, 1.2)."""
    if not isinstance(body, dict):
        raise SubmissionError({"body": ["The request body must be a JSON object."]})
    errors = _Collector()
    sender = _addresses(body.get("from"), "from", errors, required=True, single=True)
    to = _addresses(body.get("to"), "to", errors, required=True)
    cc = _addresses(body.get("cc"), "cc", errors)
    bcc = _addresses(body.get("bcc"), "bcc", errors)
    reply_to = _addresses(body.get("reply_to"), "reply_to", errors)
    subject = _string(body, "subject", errors, required=True, limit=MAX_SUBJECT)
    html = _string(body, "html", errors)
    text = _string(body, "text", errors)
    tag = _string(body, "tag", errors, limit=255)
    if tag and not _TAG.fullmatch(tag):
        errors.add("tag", "The tag may hold letters, digits, '-', '_' and single spaces.")
    tags = _lettermint_tags(body.get("tags"), errors)
    route = _string(body, "route", errors, limit=255)
    if body.get("scheduled_at") is not None:
        errors.add("scheduled_at", "Scheduled sending is not supported by this server.")
    headers = _headers(body.get("headers"), errors, limit=100)
    preserve = any(
        name.lower() == "x-lm-preserve-message-id" and value.strip().lower() in ("true", "1")
        for name, value in headers
    )
    _body_and_limits(errors, html, text, len(to) + len(cc) + len(bcc))
    submission = Submission(
        sender=sender[0] if sender else Address(""),
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=tuple(a.formatted() for a in reply_to),
        subject=subject or "",
        html=html,
        text=text,
        headers=tuple((n, v) for n, v in headers if n.lower() != "x-lm-preserve-message-id"),
        tag=tag,
        tags=tags,
        metadata=_string_map(body.get("metadata"), "metadata", errors, limit=100),
        attachments=_attachments(
            body.get("attachments"), errors, keys=("filename", "content", "content_type")
        ),
        route=route,
        overrides=_overrides(overrides_from_lettermint, body.get("settings"), "settings", errors),
        preserve_message_id=preserve,
    )
    errors.raise_any()
    return submission


def _lettermint_tags(value: Any, errors: _Collector) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 20:
        errors.add("tags", "The tags field must be a list of at most 20 {name, value} objects.")
        return ()
    found: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        tag_value = item.get("value") if isinstance(item, dict) else None
        if not (isinstance(name, str) and _TAG_PART.fullmatch(name) and len(name) <= 32):
            errors.add(f"tags.{index}.name", "A tag name is 1-32 letters, digits, '-' or '_'.")
        elif not (isinstance(tag_value, str) and _TAG_PART.fullmatch(tag_value)):
            errors.add(f"tags.{index}.value", "A tag value is 1-64 letters, digits, '-' or '_'.")
        else:
            found.append((name, tag_value))
    return tuple(found)


def from_lettr(body: Any) -> Submission:
    """Lettr's send body (docs/contracts.md, 2.2)."""
    if not isinstance(body, dict):
        raise SubmissionError({"body": ["The request body must be a JSON object."]})
    errors = _Collector()
    sender = _addresses(body.get("from"), "from", errors, required=True, single=True)
    from_name = _string(body, "from_name", errors, limit=255)
    to = _addresses(body.get("to"), "to", errors, required=True)
    if len(to) > 50:
        errors.add("to", "The to field may hold at most 50 addresses.")
    cc = _addresses(body.get("cc"), "cc", errors)
    bcc = _addresses(body.get("bcc"), "bcc", errors)
    reply_to = _addresses(body.get("reply_to"), "reply_to", errors, single=True)
    reply_to_name = _string(body, "reply_to_name", errors, limit=255)
    subject = _string(body, "subject", errors, required=True, limit=MAX_SUBJECT)
    html = _string(body, "html", errors)
    text = _string(body, "text", errors)
    tag = _string(body, "tag", errors, limit=64)
    for unsupported in ("template_slug", "amp_html", "scheduled_at"):
        if body.get(unsupported) is not None:
            errors.add(unsupported, f"The {unsupported} field is not supported by this server.")
    options = body.get("options")
    transactional = True
    if isinstance(options, dict) and options.get("transactional") is not None:
        if not isinstance(options["transactional"], bool):
            errors.add(
                "options.transactional", "The options.transactional field must be true or false."
            )
        else:
            transactional = options["transactional"]
    _body_and_limits(errors, html, text, len(to) + len(cc) + len(bcc))
    sender_address = sender[0] if sender else Address("")
    submission = Submission(
        sender=Address(sender_address.email, from_name or sender_address.name),
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=tuple(Address(a.email, reply_to_name or a.name).formatted() for a in reply_to),
        subject=subject or "",
        html=html,
        text=text,
        headers=_headers(body.get("headers"), errors, limit=10),
        tag=tag,
        metadata=_string_map(body.get("metadata"), "metadata", errors, limit=100),
        attachments=_attachments(body.get("attachments"), errors, keys=("name", "data", "type")),
        overrides=_overrides(overrides_from_lettr, options, "options", errors),
        transactional=transactional,
    )
    errors.raise_any()
    return submission
