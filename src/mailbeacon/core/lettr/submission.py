"""Lettr's send body (docs/contracts.md 2.2) read into a :class:`Submission`, and its
per-email tracking override (``options``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..intake import fields
from ..intake.policy import TrackingOverrides, overrides_from_json
from ..intake.submission import MAX_SUBJECT, Address, Submission, without_repeats

__all__ = ["from_lettr", "overrides_from_lettr"]


def overrides_from_lettr(options: Mapping[str, object] | None) -> TrackingOverrides:
    """Lettr's ``options`` object. Absent keys fall back to the route (whose default is on,
    as Lettr's is)."""
    return overrides_from_json(options, "options", opens="open_tracking", clicks="click_tracking")


def from_lettr(body: Any) -> Submission:
    """Lettr's send body (docs/contracts.md, 2.2)."""
    body = fields.json_object(body)
    errors = fields.FieldErrors()
    sender = fields.addresses(body.get("from"), "from", errors, required=True, single=True)
    from_name = fields.string(body, "from_name", errors, limit=255, header=True)
    to = fields.addresses(body.get("to"), "to", errors, required=True)
    if len(to) > 50:
        errors.add("to", "The to field may hold at most 50 addresses.")
    cc = fields.addresses(body.get("cc"), "cc", errors)
    bcc = fields.addresses(body.get("bcc"), "bcc", errors)
    to, cc, bcc = without_repeats(to, cc, bcc)
    reply_to = fields.addresses(body.get("reply_to"), "reply_to", errors, single=True)
    reply_to_name = fields.string(body, "reply_to_name", errors, limit=255, header=True)
    subject = fields.string(body, "subject", errors, required=True, limit=MAX_SUBJECT, header=True)
    html = fields.string(body, "html", errors)
    text = fields.string(body, "text", errors)
    tag = fields.string(body, "tag", errors, limit=64, header=True)
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
    fields.body_and_limits(errors, html, text, len(to) + len(cc) + len(bcc))
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
        headers=fields.headers(body.get("headers"), errors, limit=10),
        tag=tag,
        metadata=fields.string_map(body.get("metadata"), "metadata", errors, limit=100),
        attachments=fields.attachments(
            body.get("attachments"), errors, keys=("name", "data", "type")
        ),
        overrides=fields.overrides(overrides_from_lettr, options, "options", errors),
        transactional=transactional,
    )
    errors.raise_any()
    return submission
