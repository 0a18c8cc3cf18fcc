"""Lettermint's webhook deliveries: one JSON object per delivery.

``{"id": <delivery id>, "event", "timestamp", "data": {message_id, subject, metadata, tag,
recipient, ...}}``; bounces add ``bounced_at``, ``response`` (the receiving server's reply),
``enhanced_status`` and ``out_of_band``; ``message.suppressed`` the suppression's ``reason``,
``scope`` and ``applies_to``; ``message.unsubscribed`` ``unsubscribed_at``; engagement adds
``opened_at``/``clicked_at``, ``first_open``/``first_click``, ``destination_url``,
``link_index``, ``anchor_text``, the client facts and the ``bot`` verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..events import Event
from ..timestamps import engagement_time, rfc3339
from ..webhooks.shared import MessageFacts, bot_verdict

__all__ = ["EVENT_NAMES", "SUBSCRIPTIONS", "payload", "test_payload"]

# What each mailbeacon event is called (message.delivered is added where known: see
# core/webhooks/payloads.py's event_names).
EVENT_NAMES: Mapping[str, str] = {
    name: name
    for name in (
        *("message.created", "message.sent", "message.failed"),
        *("message.opened", "message.clicked"),
        *("message.hard_bounced", "message.soft_bounced"),
        *("message.suppressed", "message.unsubscribed"),
    )
}

# Lettermint's WebhookEvent vocabulary (docs/contracts.md 1.6): all may be subscribed to
# (each name is its own canonical form); mailbeacon emits those of EVENT_NAMES.
SUBSCRIPTIONS: Mapping[str, str] = {
    name: name
    for name in (
        *("message.created", "message.sent", "message.delivered", "message.auto_replied"),
        *("message.hard_bounced", "message.soft_bounced", "message.spam_complaint"),
        *("message.failed", "message.suppressed", "message.unsubscribed", "message.opened"),
        *("message.clicked", "message.inbound", "message.policy_rejected", "message.scheduled"),
        *("message.rescheduled", "message.canceled", "message.released", "suppression.added"),
        *("suppression.removed", "webhook.test"),
    )
}


def payload(name: str, delivery_id: str, event: Event, message: MessageFacts) -> Any:
    return {
        "id": delivery_id,
        "event": name,
        "timestamp": rfc3339(event.at),
        "data": _data(name, event, message),
    }


def test_payload(delivery_id: str, webhook_id: str, at: datetime) -> Any:
    return {
        "id": delivery_id,
        "event": "webhook.test",
        "timestamp": rfc3339(at),
        "data": {"message": "A test delivery from mailbeacon.", "webhook_id": webhook_id},
    }


def _data(name: str, event: Event, message: MessageFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": message.public_id,
        "subject": message.subject,
        "metadata": dict(message.metadata),
        "tag": message.tag,
    }
    info = event.data
    if name == "message.created":
        data.update(
            from_email=message.from_email,
            from_name=message.from_name,
            recipients=[address for address, _ in message.recipients],
            created_at=rfc3339(event.at),
        )
        return data
    data["recipient"] = event.recipient
    if name in ("message.sent", "message.delivered"):
        moment = "sent_at" if name == "message.sent" else "delivered_at"
        data.update({moment: rfc3339(event.at), "response": info.get("response")})
        data["attempts"] = info.get("attempts")
    elif name == "message.failed":
        data.update(
            failed_at=rfc3339(event.at),
            reason=info.get("reason"),
            permanent=bool(info.get("permanent")),
            attempts=info.get("attempts"),
        )
    elif name in ("message.opened", "message.clicked"):
        data.update(_engagement(name == "message.clicked", event))
    elif name in ("message.hard_bounced", "message.soft_bounced"):
        data.update(
            bounced_at=rfc3339(event.at),
            response=info.get("response"),
            enhanced_status=info.get("status"),
            out_of_band=bool(info.get("out_of_band")),
        )
    elif name == "message.suppressed":
        data.update(
            suppressed_at=rfc3339(event.at),
            reason=info.get("reason"),
            scope=info.get("scope"),
            applies_to=info.get("applies_to"),
        )
    elif name == "message.unsubscribed":
        data.update(unsubscribed_at=rfc3339(event.at), method=info.get("method"))
    return data


def _engagement(clicked: bool, event: Event) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "clicked_at" if clicked else "opened_at": engagement_time(event.at),
        "first_click" if clicked else "first_open": bool(event.first),
    }
    if clicked:
        facts.update(
            destination_url=event.url, link_index=event.link_index, anchor_text=event.anchor_text
        )
        if event.data.get("honeypot"):
            facts["honeypot"] = True
    facts.update(
        device_type=event.device_type,
        client_type=event.client_type,
        client_name=event.client_name,
        user_agent=event.user_agent,
        bot=bot_verdict(event),
    )
    return facts
