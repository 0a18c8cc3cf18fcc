"""Lettr's webhook deliveries: SparkPost's ``[{"msys": {"track_event" | "message_event":
{"type", "event_id", "timestamp" (Unix seconds), "rcpt_to", ...}}}]``, with
``user_agent_parsed.is_proxy`` / ``is_prefetched`` carrying the verdict, and the full verdict
under ``bot``.
"""

from __future__ import annotations

import email.utils
import functools
from collections.abc import Mapping
from typing import Any

from ua_parser import Result, parse

from ..events import Event
from ..timestamps import rfc3339
from ..webhooks.shared import MessageFacts, bot_verdict

__all__ = [
    "ALL_EVENTS",
    "EVENT_NAMES",
    "SUBSCRIPTIONS",
    "payload",
    "rcpt",
    "test_payload",
    "user_agent_parsed",
]

# What each mailbeacon event is registered as (engagement.initial_open is added for a first
# open: see core/webhooks/payloads.py's event_names).
EVENT_NAMES: Mapping[str, str] = {
    "message.created": "message.injection",
    "message.sent": "message.delivery",
    "message.failed": "message.bounce",
    "message.opened": "engagement.open",
    "message.clicked": "engagement.click",
    # a later bounce (an in-band one is message.failed's message.bounce); a suppressed
    # recipient is SparkPost's policy rejection ("suppressed due to customer policy")
    "message.hard_bounced": "message.out_of_band",
    "message.soft_bounced": "message.out_of_band",
    "message.suppressed": "message.policy_rejection",
    "message.unsubscribed": "unsubscribe.list_unsubscribe",
}
_CANONICAL = (
    *("message.injection", "message.delivery", "message.bounce", "message.delay"),
    *("message.out_of_band", "message.spam_complaint", "message.policy_rejection"),
    *("engagement.click", "engagement.open", "engagement.initial_open", "engagement.amp_click"),
    *("engagement.amp_open", "engagement.amp_initial_open", "generation.generation_failure"),
    *("generation.generation_rejection", "unsubscribe.list_unsubscribe"),
    *("unsubscribe.link_unsubscribe", "relay.relay_injection", "relay.relay_rejection"),
    *("relay.relay_delivery", "relay.relay_tempfail", "relay.relay_permfail"),
)
# A Lettr webhook with ``events_mode: all`` subscribes to every name, so that it hears of an
# event whatever mailbeacon learns to emit later (web/lettr/webhooks.py).
ALL_EVENTS: tuple[str, ...] = _CANONICAL
# Every spelling a Lettr subscription may use, to its canonical name (docs/contracts.md 2.4):
# the canonical names, their short forms (``click``), the legacy ``engagament.*`` spelling, and
# the Lettermint names mailbeacon emits.
SUBSCRIPTIONS: Mapping[str, str] = {
    **{name: name for name in _CANONICAL},
    **{name.partition(".")[2]: name for name in _CANONICAL},
    **{
        "engagament." + name.partition(".")[2]: name
        for name in _CANONICAL
        if name.startswith("engagement.")
    },
    **EVENT_NAMES,
    "message.delivered": "message.delivery",
}
_KINDS = {  # registration name: (msys category, payload type)
    "message.injection": ("message_event", "injection"),
    "message.delivery": ("message_event", "delivery"),
    "message.bounce": ("message_event", "bounce"),
    "engagement.open": ("track_event", "open"),
    "engagement.initial_open": ("track_event", "initial_open"),
    "engagement.click": ("track_event", "click"),
    "message.out_of_band": ("message_event", "out_of_band"),
    "message.policy_rejection": ("message_event", "policy_rejection"),
    "unsubscribe.list_unsubscribe": ("unsubscribe_event", "list_unsubscribe"),
}
# SparkPost's bounce class of a policy rejection: 25 "Admin Failure" (the sender's own list).
_POLICY_CLASS = 25
# SparkPost bounce classes: 1 undetermined (the reply is not classified), 24 timeout.
_BOUNCE_CLASS = {True: 1, False: 24}


def test_payload() -> Any:
    return [{"msys": {}}]  # what SparkPost posts to check a new endpoint


def payload(
    name: str, delivery_id: str, event: Event, message: MessageFacts, ip: str | None = None
) -> list[Any]:
    category, kind = _KINDS[name]
    head = {
        "type": kind,
        "event_id": delivery_id,
        "timestamp": str(int(event.at.timestamp())),  # SparkPost's: Unix seconds, as text
        **_message(message),
    }
    kinds = {a.lower(): k for a, k in message.recipients}
    if name == "message.injection":  # message-wide in mailbeacon, per recipient in SparkPost
        return [
            {"msys": {category: {**head, "event_id": f"{delivery_id}:{i}", **rcpt(a, k)}}}
            for i, (a, k) in enumerate(message.recipients)
        ]
    address = event.recipient or ""
    item = {**head, **rcpt(address, kinds.get(address.lower()))}
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
    elif name == "message.out_of_band":
        reason = str(event.data.get("response") or "")
        item.update(
            reason=reason,
            raw_reason=reason,
            bounce_class=_BOUNCE_CLASS[bool(event.data.get("permanent"))],
        )
        if reason[:3].isdigit():
            item["error_code"] = reason[:3]
    elif name == "message.policy_rejection":
        reason = f"554 5.7.1 recipient suppressed: {event.data.get('reason')}"
        item.update(reason=reason, raw_reason=reason, error_code="554", bounce_class=_POLICY_CLASS)
    elif name == "unsubscribe.list_unsubscribe":
        item["mailfrom"] = message.from_email
    else:
        item.update(_engagement(event, ip))
    return [{"msys": {category: item}}]


def _message(message: MessageFacts) -> dict[str, Any]:
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
        "injection_time": rfc3339(message.created_at),
        "rcpt_meta": dict(message.metadata),
        "rcpt_tags": [message.tag] if message.tag else [],
    }


def rcpt(address: str, kind: str | None) -> dict[str, Any]:
    """SparkPost's recipient fields (webhook deliveries and Lettr's events API alike)."""
    fields = {
        "rcpt_to": address.lower(),
        "raw_rcpt_to": address,
        "recipient_domain": address.rpartition("@")[2].lower(),
    }
    if kind in ("cc", "bcc"):  # SparkPost names only the carbon copies
        fields["rcpt_type"] = kind
    return fields


def _engagement(event: Event, ip: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "user_agent": event.user_agent,
        "user_agent_parsed": user_agent_parsed(
            event.user_agent, event.device_type, event.classification, event.machine
        ),
        "bot": {**bot_verdict(event), "family": event.family, "details": list(event.details or ())},
    }
    if ip:
        fields["ip_address"] = ip
    if event.type == "message.opened":
        fields["initial_pixel"] = True  # mailbeacon's one pixel is at the top
    else:
        fields.update(target_link_url=event.url, target_link_name=event.anchor_text)
    return fields


def user_agent_parsed(
    user_agent: str | None,
    device_type: str | None,
    classification: str | None,
    machine: bool | None,
) -> dict[str, Any]:
    """SparkPost's ``user_agent_parsed``, with the verdict in ``is_proxy`` / ``is_prefetched``
    (webhook deliveries and Lettr's events API alike)."""
    parsed = _parse(user_agent or "")
    os_version = None
    if parsed.os:
        os_version = ".".join(p for p in (parsed.os.major, parsed.os.minor, parsed.os.patch) if p)
    return {
        "agent_family": parsed.user_agent.family if parsed.user_agent else None,
        "device_brand": parsed.device.brand if parsed.device else None,
        "device_family": parsed.device.family if parsed.device else None,
        "os_family": parsed.os.family if parsed.os else None,
        "os_version": os_version or None,
        "is_mobile": device_type in ("mobile", "tablet"),
        "is_proxy": classification == "privacy_proxy",
        "is_prefetched": bool(machine),
    }


@functools.lru_cache(maxsize=4096)
def _parse(user_agent: str) -> Result:
    return parse(user_agent)
