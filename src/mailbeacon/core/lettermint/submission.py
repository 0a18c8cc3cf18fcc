"""Lettermint's send request (SendMailRequest, docs/contracts.md 1.2) read into a
:class:`Submission`, and its per-email tracking override (``settings``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..intake import fields
from ..intake.policy import TrackingOverrides, overrides_from_json
from ..intake.submission import MAX_SUBJECT, Address, Submission, without_repeats

__all__ = ["from_lettermint", "overrides_from_lettermint"]

_TAG = re.compile(r"[a-zA-Z0-9_-]+(?:\s[a-zA-Z0-9_-]+)*")
_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")


def overrides_from_lettermint(settings: Mapping[str, object] | None) -> TrackingOverrides:
    """Lettermint's ``settings`` object of a send request (JSON booleans only)."""
    return overrides_from_json(settings, "settings", opens="track_opens", clicks="track_clicks")


def from_lettermint(body: Any) -> Submission:
    """Lettermint's SendMailRequest (docs/contracts.md, 1.2)."""
    body = fields.json_object(body)
    errors = fields.FieldErrors()
    sender = fields.addresses(body.get("from"), "from", errors, required=True, single=True)
    to = fields.addresses(body.get("to"), "to", errors, required=True)
    cc = fields.addresses(body.get("cc"), "cc", errors)
    bcc = fields.addresses(body.get("bcc"), "bcc", errors)
    to, cc, bcc = without_repeats(to, cc, bcc)
    reply_to = fields.addresses(body.get("reply_to"), "reply_to", errors)
    subject = fields.string(body, "subject", errors, required=True, limit=MAX_SUBJECT, header=True)
    html = fields.string(body, "html", errors)
    text = fields.string(body, "text", errors)
    tag = fields.string(body, "tag", errors, limit=255)
    if tag and not _TAG.fullmatch(tag):
        errors.add("tag", "The tag may hold letters, digits, '-', '_' and single spaces.")
    tags = _tags(body.get("tags"), errors)
    route = fields.string(body, "route", errors, limit=255)
    if body.get("scheduled_at") is not None:
        errors.add("scheduled_at", "Scheduled sending is not supported by this server.")
    headers = fields.headers(body.get("headers"), errors, limit=100)
    preserve = any(
        name.lower() == "x-lm-preserve-message-id" and value.strip().lower() in ("true", "1")
        for name, value in headers
    )
    fields.body_and_limits(errors, html, text, len(to) + len(cc) + len(bcc))
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
        metadata=fields.string_map(body.get("metadata"), "metadata", errors, limit=100),
        attachments=fields.attachments(
            body.get("attachments"), errors, keys=("filename", "content", "content_type")
        ),
        route=route,
        overrides=fields.overrides(
            overrides_from_lettermint, body.get("settings"), "settings", errors
        ),
        preserve_message_id=preserve,
    )
    errors.raise_any()
    return submission


def _tags(value: Any, errors: fields.FieldErrors) -> tuple[tuple[str, str], ...]:
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
