"""What a webhook delivery's body holds, in each format, built from plain data.

=================  ==========================  ====================================
mailbeacon event   lettermint                  lettr (registration name / ``type``)
=================  ==========================  ====================================
message.created    message.created             message.injection / injection, one
                                               entry per recipient
message.sent       message.sent, and           message.delivery / delivery
                   message.delivered when an
                   SMTP upstream took it (a
                   captured copy reached no
                   one: "where known")
message.failed     message.failed              message.bounce / bounce
message.opened     message.opened              engagement.open / open, and
                                               engagement.initial_open /
                                               initial_open for a first open
message.clicked    message.clicked             engagement.click / click
(test)             webhook.test                ``[{"msys": {}}]``, what SparkPost posts
                                               to check a new endpoint
=================  ==========================  ====================================

Lettermint: ``{"id": <delivery id>, "event", "timestamp", "data": {message_id, subject,
metadata, tag, recipient, ...}}``; engagement adds ``opened_at``/``clicked_at``,
``first_open``/``first_click``, ``destination_url``, ``link_index``, ``anchor_text``, the
client facts and the ``bot`` verdict. Lettr: SparkPost's ``[{"msys": {"track_event" |
"message_event": {"type", "event_id", "timestamp" (Unix seconds), "rcpt_to", ...}}}]`` with
``user_agent_parsed.is_proxy`` / ``is_prefetched`` carrying the verdict, and the full verdict
under ``bot``.

Engagement events that do not count for metrics (scanners, previews, bots, Apple's
prefetch) go only to webhooks that ask for them with ``include_machine_events``.
"""

from __future__ import annotations

import email.utils
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ua_parser import Result, parse

__all__ = [
    "EventFacts",
    "MessageFacts",
    "encode",
    "event_names",
    "machine_only",
    "payload",
    "webhook_test_payload",
]

ENGAGEMENT = frozenset({"message.opened", "message.clicked"})
# What each mailbeacon event is called in each format (conditional extras in event_names).
_NAMES: Mapping[str, Mapping[str, str]] = {
    "lettermint": {
        name: name
        for name in (
            *("message.created", "message.sent", "message.failed"),
            *("message.opened", "message.clicked"),
        )
    },
    "lettr": {
        "message.created": "message.injection",
        "message.sent": "message.delivery",
        "message.failed": "message.bounce",
        "message.opened": "engagement.open",
        "message.clicked": "engagement.click",
    },
}

_LETTR_KINDS = {  # registration name: (msys category, payload type)
    "message.injection": ("message_event", "injection"),
    "message.delivery": ("message_event", "delivery"),
    "message.bounce": ("message_event", "bounce"),
    "engagement.open": ("track_event", "open"),
    "engagement.initial_open": ("track_event", "initial_open"),
    "engagement.click": ("track_event", "click"),
}
# SparkPost bounce classes: 1 undetermined (the reply is not classified), 24 timeout.
_BOUNCE_CLASS = {True: 1, False: 24}


@dataclass(frozen=True, slots=True)
class MessageFacts:
    public_id: str
    subject: str | None
    metadata: Mapping[str, str]
    tag: str | None
    from_email: str
    from_name: str | None
    recipients: tuple[tuple[str, str], ...]  # (address, to | cc | bcc)
    track_opens: bool
    track_clicks: bool
    transactional: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One stored event, as plain data (store/events.py's columns)."""

    type: str
    at: datetime
    recipient: str | None = None
    link_index: int | None = None
    url: str | None = None
    anchor_text: str | None = None
    first: bool | None = None
    classification: str | None = None
    probability: int | None = None
    proxy_type: str | None = None
    family: str | None = None
    reason_codes: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    machine: bool | None = None
    counts_for_metrics: bool | None = None
    device_type: str | None = None
    client_type: str | None = None
    client_name: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def machine_only(event: EventFacts) -> bool:
    """An engagement event that does not count for metrics (labels, not drops)."""
    return event.type in ENGAGEMENT and not event.counts_for_metrics


def event_names(format: str, event: EventFacts) -> tuple[str, ...]:
    """What ``event`` is delivered as to a webhook of ``format``; a webhook receives those it
    subscribed to."""
    name = _NAMES[format].get(event.type)
    if name is None:
        return ()
    delivered = event.type == "message.sent" and event.data.get("upstream") == "smtp"
    if format == "lettermint" and delivered:
        return (name, "message.delivered")
    if format == "lettr" and event.type == "message.opened" and event.first:
        return (name, "engagement.initial_open")
    return (name,)


def _iso(moment: datetime) -> str:
    """Lettermint's dates: UTC, microseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(body: Any) -> bytes:
    """The bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def payload(
    format: str, name: str, delivery_id: str, event: EventFacts, message: MessageFacts
) -> Any:
    """The body of one delivery (see the module docs for the shapes)."""
    if format == "lettr":
        return _lettr(name, delivery_id, event, message)
    return {
        "id": delivery_id,
        "event": name,
        "timestamp": _iso(event.at),
        "data": _lettermint_data(name, event, message),
    }


def webhook_test_payload(format: str, delivery_id: str, webhook_id: str, at: datetime) -> Any:
    if format == "lettr":
        return [{"msys": {}}]  # what SparkPost posts to check a new endpoint
    return {
        "id": delivery_id,
        "event": "webhook.test",
        "timestamp": _iso(at),
        "data": {"message": "A test delivery from mailbeacon.", "webhook_id": webhook_id},
    }


def _bot(event: EventFacts) -> dict[str, Any]:
    classification = event.classification or "genuine"
    return {
        # detected: an automated agent made the request (a privacy proxy included);
        # machine: no person caused it (a privacy proxy fetching for a reader did).
        "detected": classification != "genuine",
        "probability": event.probability,
        "classification": classification,
        "proxy_type": event.proxy_type,
        "reason_codes": list(event.reason_codes),
        "machine": bool(event.machine),
        "counts_for_metrics": bool(event.counts_for_metrics),
    }


def _lettermint_data(name: str, event: EventFacts, message: MessageFacts) -> dict[str, Any]:
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
            created_at=_iso(event.at),
        )
        return data
    data["recipient"] = event.recipient
    if name in ("message.sent", "message.delivered"):
        moment = "sent_at" if name == "message.sent" else "delivered_at"
        data.update({moment: _iso(event.at), "response": info.get("response")})
        data["attempts"] = info.get("attempts")
    elif name == "message.failed":
        data.update(
            failed_at=_iso(event.at),
            reason=info.get("reason"),
            permanent=bool(info.get("permanent")),
            attempts=info.get("attempts"),
        )
    elif name in ("message.opened", "message.clicked"):
        data.update(_engagement(name == "message.clicked", event))
    return data


def _engagement(clicked: bool, event: EventFacts) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "clicked_at" if clicked else "opened_at": _iso(event.at),
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
        bot=_bot(event),
    )
    return facts


# --- Lettr (SparkPost) ------------------------------------------------------------------------


def _lettr(name: str, delivery_id: str, event: EventFacts, message: MessageFacts) -> list[Any]:
    category, kind = _LETTR_KINDS[name]
    head = {
        "type": kind,
        "event_id": delivery_id,
        "timestamp": str(int(event.at.timestamp())),  # SparkPost's: Unix seconds, as text
        **_lettr_message(message),
    }
    kinds = {a.lower(): k for a, k in message.recipients}
    if name == "message.injection":  # message-wide in mailbeacon, per recipient in SparkPost
        return [
            {"msys": {category: {**head, "event_id": f"{delivery_id}:{i}", **_rcpt(a, k)}}}
            for i, (a, k) in enumerate(message.recipients)
        ]
    address = event.recipient or ""
    item = {**head, **_rcpt(address, kinds.get(address.lower()))}
    if name == "message.delivery":
        queued = event.at - message.created_at
        item.update(
            delv_method="esmtp" if event.data.get("upstream") == "smtp" else "capture",
            queue_time=max(0, int(queued.total_seconds() * 1000)),
        )
    elif name == "message.bounce":
        reason = str(event.data.get("reason") or "")
        item.update(
            reason=reason,
            raw_reason=reason,
            bounce_class=_BOUNCE_CLASS[bool(event.data.get("permanent"))],
            num_retries=max(0, int(event.data.get("attempts") or 1) - 1),
        )
        if reason[:3].isdigit():
            item["error_code"] = reason[:3]
    else:
        item.update(_lettr_engagement(event))
    return [{"msys": {category: item}}]


def _lettr_message(message: MessageFacts) -> dict[str, Any]:
    return {
        "transmission_id": message.public_id,
        "message_id": message.public_id,
        "subject": message.subject,
        "friendly_from": email.utils.formataddr((message.from_name, message.from_email)),
        "msg_from": message.from_email,
        "sending_domain": message.from_email.rpartition("@")[2],
        "click_tracking": message.track_clicks,
        "open_tracking": message.track_opens,
        "transactional": message.transactional,
        "injection_time": _iso(message.created_at),
        "rcpt_meta": dict(message.metadata),
        "rcpt_tags": [message.tag] if message.tag else [],
    }


def _rcpt(address: str, kind: str | None) -> dict[str, Any]:
    fields = {
        "rcpt_to": address.lower(),
        "raw_rcpt_to": address,
        "recipient_domain": address.rpartition("@")[2].lower(),
    }
    if kind in ("cc", "bcc"):  # SparkPost names only the carbon copies
        fields["rcpt_type"] = kind
    return fields


def _lettr_engagement(event: EventFacts) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "user_agent": event.user_agent,
        "user_agent_parsed": _user_agent_parsed(event),
        "bot": {**_bot(event), "family": event.family, "details": list(event.details)},
    }
    if event.ip:
        fields["ip_address"] = event.ip
    if event.type == "message.opened":
        fields["initial_pixel"] = True  # mailbeacon's one pixel is at the top
    else:
        fields.update(target_link_url=event.url, target_link_name=event.anchor_text)
    return fields


def _user_agent_parsed(event: EventFacts) -> dict[str, Any]:
    parsed = _parse(event.user_agent or "")
    os_version = None
    if parsed.os:
        os_version = ".".join(p for p in (parsed.os.major, parsed.os.minor, parsed.os.patch) if p)
    return {
        "agent_family": parsed.user_agent.family if parsed.user_agent else None,
        "device_brand": parsed.device.brand if parsed.device else None,
        "device_family": parsed.device.family if parsed.device else None,
        "os_family": parsed.os.family if parsed.os else None,
        "os_version": os_version or None,
        "is_mobile": event.device_type in ("mobile", "tablet"),
        "is_proxy": event.classification == "privacy_proxy",
        "is_prefetched": bool(event.machine),
    }


@functools.lru_cache(maxsize=4096)
def _parse(user_agent: str) -> Result:
    return parse(user_agent)
