"""mailbeacon's messages and events in Lettr's vocabulary (SparkPost's event fields).

Lettr's ``GET /emails/{request_id}`` answers an ``EmailDetail`` whose ``events`` are SparkPost
events (docs/contracts.md, 2.3). The translation is by lookup tables:

========================  ====================  =============================================
mailbeacon event          Lettr ``type``        notes
========================  ====================  =============================================
``message.created``       ``injection``         one per recipient (SparkPost's are per
                                                recipient)
``message.sent``          ``delivery``          ``delv_method`` ``esmtp``, or ``capture``
``message.failed``        ``bounce``            ``bounce_class`` 1 (refused: the reply is not
                                                parsed) or 24 (the retry schedule ran out)
``message.opened``        ``open``              ``initial_pixel`` true: the only pixel is on top
``message.clicked``       ``click``             ``target_link_url`` / ``target_link_name``
``message.hard_bounced``  ``out_of_band``       a bounce that came back later (an in-band one
``message.soft_bounced``                        is ``message.failed``'s ``bounce``)
``message.suppressed``    ``policy_rejection``  ``bounce_class`` 25: on the suppression list
``message.unsubscribed``  ``list_unsubscribe``  the one-click unsubscribe
========================  ====================  =============================================

Engagement events made by machines
are listed too, since Lettr has no flag to ask for them; they are labelled instead:
``user_agent_parsed.is_proxy`` (a privacy proxy fetched it), ``is_prefetched`` (a machine
fetched it ahead of, or instead of, a person) and a ``bot`` object with the full verdict
(an extra key: the SDK ignores it, raw JSON readers see it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.utils import formataddr
from typing import Any

from ...core.lettr.webhooks import rcpt, user_agent_parsed
from ...core.timestamps import rfc3339 as timestamp  # the one form: core/timestamps.py
from ...store.events import EventView
from ...store.messages import Copy, MessageRecord

__all__ = ["email_detail", "event_items", "lettr_state", "message_fields", "timestamp"]

# Lettr's state of an email from mailbeacon's message status. A captured message (kept
# locally instead of sent upstream) reads as delivered; its events say ``capture``.
_STATES = {
    "queued": "queued",
    "processed": "sending",
    "delivered": "delivered",
    "captured": "delivered",
    "failed": "bounced",
    "suppressed": "bounced",  # Lettr has no word for it: none of it was sent
}
_TYPES = {
    "message.created": "injection",
    "message.sent": "delivery",
    "message.failed": "bounce",
    "message.opened": "open",
    "message.clicked": "click",
    "message.hard_bounced": "out_of_band",  # a later one: in band, message.failed's bounce
    "message.soft_bounced": "out_of_band",
    "message.suppressed": "policy_rejection",
    "message.unsubscribed": "list_unsubscribe",
}
_BOUNCES = frozenset({"message.hard_bounced", "message.soft_bounced"})
_ENGAGEMENT = frozenset({"message.opened", "message.clicked"})
# SparkPost bounce classes: 1 "Undetermined" (the upstream's reply text is not classified),
# 24 "Timeout" (not delivered before the retry schedule ran out).
_BOUNCE_CLASS = {True: 1, False: 24}
_SMTP_CODE = re.compile(r"\s*([245]\d\d)\b")


def lettr_state(status: str) -> str:
    return _STATES.get(status, status)


def email_detail(
    record: MessageRecord,
    copies: Sequence[Copy],
    views: Sequence[EventView],
    header_id: str | None,
) -> dict[str, Any]:
    """The ``data`` of Lettr's EmailDetail."""
    common = message_fields(record, header_id)
    detail: dict[str, Any] = {
        "transmission_id": record.public_id,
        "state": lettr_state(record.status),
        "from": record.from_email,
        "subject": record.subject or "",
        "recipients": [copy.recipient for copy in copies],
        "num_recipients": len(copies),
        "events": [
            item for view in views for item in event_items(view, common, copies, record.created_at)
        ],
    }
    if record.from_name:
        detail["from_name"] = record.from_name
    return detail


def message_fields(record: MessageRecord, header_id: str | None) -> dict[str, Any]:
    """What every event of the message repeats, as SparkPost's events do. The lists leave
    ``header_id`` (the Message-ID header, read from the stored bytes) out: a page of a
    hundred messages would read a hundred whole emails for it."""
    fields = {
        "request_id": record.public_id,
        "message_id": header_id,
        "subject": record.subject,
        "friendly_from": formataddr((record.from_name, record.from_email)),
        "msg_from": record.from_email,
        "sending_domain": record.from_email.rpartition("@")[2],
        "click_tracking": record.track_clicks,
        "open_tracking": record.track_opens,
        "transactional": record.transactional,
        "injection_time": timestamp(record.created_at),
        "rcpt_meta": record.metadata or None,
        "rcpt_tags": [record.tag] if record.tag else None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def event_items(
    view: EventView, common: dict[str, Any], copies: Sequence[Copy], injected: datetime
) -> list[dict[str, Any]]:
    """The SparkPost events one mailbeacon event makes: one per recipient for the
    message-wide ``message.created``, else one; none for a type Lettr has no word for."""
    event = view.event
    kind = _TYPES.get(event.type)
    if kind is None:
        return []  # an event Lettr has no word for: not guessed at
    if event.type in _BOUNCES and not event.data.get("out_of_band"):
        return []  # the upstream's own refusal: listed once, as message.failed's bounce
    head = {"event_id": event.public_id, "type": kind, "timestamp": timestamp(event.at)}
    if event.type == "message.created":  # message-wide in mailbeacon, per recipient here
        return [
            {
                **head,
                "event_id": f"{event.public_id}:{index}",
                **common,
                **rcpt(copy.recipient, copy.recipient_kind),
            }
            for index, copy in enumerate(copies)
        ]
    item = {**head, **common, **rcpt(event.recipient or "", view.recipient_kind)}
    if event.type == "message.sent":
        item.update(_delivery(event.data, event.at - injected))
    elif event.type == "message.failed":
        item.update(_bounce(event.data))
    elif event.type in _BOUNCES:
        item.update(_bounce({**event.data, "reason": event.data.get("response")}))
    elif event.type == "message.suppressed":
        reason = f"554 5.7.1 recipient suppressed: {event.data.get('reason')}"
        item.update(reason=reason, raw_reason=reason, error_code="554", bounce_class=25)
    if event.type in _ENGAGEMENT:
        item.update(_engagement(view))
    return [item]


def _delivery(data: Mapping[str, Any], queued: timedelta) -> dict[str, Any]:
    return {
        "delv_method": "capture" if data.get("upstream") == "capture" else "esmtp",
        "queue_time": max(0, int(queued.total_seconds() * 1000)),  # milliseconds
    }


def _bounce(data: Mapping[str, Any]) -> dict[str, Any]:
    reason = str(data.get("reason") or "")
    code = _SMTP_CODE.match(reason)
    fields: dict[str, Any] = {
        "reason": reason,
        "raw_reason": reason,
        "bounce_class": _BOUNCE_CLASS[bool(data.get("permanent"))],
        "num_retries": max(0, int(data.get("attempts") or 1) - 1),
    }
    if code:
        fields["error_code"] = code.group(1)
    return fields


def _engagement(view: EventView) -> dict[str, Any]:
    event = view.event
    fields: dict[str, Any] = {
        "user_agent": event.user_agent,
        "ip_address": view.ip,
        "user_agent_parsed": user_agent_parsed(
            event.user_agent, event.device_type, event.classification, event.machine
        ),
        "bot": {
            "machine": bool(event.machine),
            "classification": event.classification,
            "probability": event.probability,
            "proxy_type": event.proxy_type,
            "family": event.family,
            "reason_codes": list(event.reason_codes or ()),
            "details": list(event.details or ()),
            "counts_for_metrics": bool(event.counts_for_metrics),
        },
    }
    if event.type == "message.opened":
        fields["initial_pixel"] = True
    else:
        fields["target_link_url"] = event.url
        fields["target_link_name"] = event.anchor_text
    return {key: value for key, value in fields.items() if value is not None}
