"""Readers for the fields of a JSON send request, shared by both dialects.

Each reader takes the raw value and a :class:`FieldErrors`, returns what it could read and
records every problem under the field's name, so one 422 lists all of them
(``errors: {field: [message, ...]}``). The dialects (core/lettermint/submission.py,
core/lettr/submission.py) say which fields exist and what they are called.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidOverride, SubmissionError
from ..text import header_problem
from .policy import TrackingOverrides
from .submission import MAX_RECIPIENTS, Address, Attachment, address_problem, parse_address

__all__ = [
    "FieldErrors",
    "addresses",
    "attachments",
    "body_and_limits",
    "headers",
    "json_object",
    "overrides",
    "string",
    "string_map",
]

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


class FieldErrors:
    """Gathers field errors, so one response lists every problem."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_any(self) -> None:
        if self.errors:
            raise SubmissionError(self.errors)


def json_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise SubmissionError({"body": ["The request body must be a JSON object."]})
    return body


def string(
    body: Mapping[str, Any],
    name: str,
    errors: FieldErrors,
    *,
    required: bool = False,
    limit: int | None = None,
    label: str | None = None,
    header: bool = False,
) -> str | None:
    """A string field; ``header``: one that becomes (part of) a mail header's value."""
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
    problem = header_problem(value) if header else None
    if problem is not None:
        errors.add(label, f"The {label} field {problem}.")
    return value


def addresses(
    value: Any, label: str, errors: FieldErrors, *, required: bool = False, single: bool = False
) -> tuple[Address, ...]:
    if value is None or value == [] or value == "":
        if required:
            errors.add(label, f"The {label} field is required.")
        return ()
    items = [value] if single and isinstance(value, str) else value
    if single and not isinstance(value, str):
        errors.add(label, f"The {label} field must be a string.")
        return ()
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        errors.add(label, f"The {label} field must be a list of addresses.")
        return ()
    found = []
    for index, item in enumerate(items):
        address = parse_address(item)
        if address is None:
            problem = address_problem(item)
            errors.add(label if single else f"{label}.{index}", f"{_shown(item)} {problem}.")
        else:
            found.append(address)
    return tuple(found)


def _shown(value: str, limit: int = 80) -> str:
    """A client's value quoted in a message, cut short: an answer never echoes megabytes."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def string_map(value: Any, label: str, errors: FieldErrors, *, limit: int) -> dict[str, str]:
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


def headers(value: Any, errors: FieldErrors, *, limit: int) -> tuple[tuple[str, str], ...]:
    found = string_map(value, "headers", errors, limit=limit)
    for name, header_value in found.items():
        if not _HEADER_NAME.fullmatch(name):
            errors.add("headers", f"{name!r} is not a valid header name.")
        elif name.lower() in _RESERVED_HEADERS:
            errors.add("headers", f"The {name} header is set from the request's own fields.")
        problem = header_problem(header_value)
        if problem is not None:
            errors.add(f"headers.{name}", f"The {name} header value {problem}.")
    return tuple(found.items())


def _attachment(
    item: Any, label: str, errors: FieldErrors, *, keys: tuple[str, str, str]
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
    # Each of the three becomes part of a MIME header of the attachment's part.
    unsafe = False
    for key, text in (
        (name_key, filename),
        (type_key, item.get(type_key)),
        ("content_id", content_id),
    ):
        problem = header_problem(text) if isinstance(text, str) else None
        if problem is not None:
            errors.add(f"{label}.{key}", f"The {key} {problem}.")
            unsafe = True
    if unsafe:
        return None
    return Attachment(filename, content, content_type, content_id or None)


def attachments(
    value: Any, errors: FieldErrors, *, keys: tuple[str, str, str]
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


def overrides(
    reader: Callable[[Mapping[str, object]], TrackingOverrides],
    value: Any,
    label: str,
    errors: FieldErrors,
) -> TrackingOverrides:
    if value is None:
        return TrackingOverrides()
    if not isinstance(value, dict):
        errors.add(label, f"The {label} field must be an object.")
        return TrackingOverrides()
    try:
        found = reader(value)
    except InvalidOverride as exc:
        errors.add(exc.field, f"The {exc.field} field must be true or false.")
        return TrackingOverrides()
    return found


def body_and_limits(
    errors: FieldErrors, html: str | None, text: str | None, recipients: int
) -> None:
    if html is None and text is None:
        errors.add("html", "Either html or text is required.")
    if recipients > MAX_RECIPIENTS:
        errors.add("to", f"A message may have at most {MAX_RECIPIENTS} recipients in all.")
