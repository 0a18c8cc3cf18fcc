"""What a webhook delivery's body holds, in each format: the format's module decides
(core/lettermint/webhooks.py, core/lettr/webhooks.py).

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
message.hard_/     message.hard_bounced,       message.out_of_band / out_of_band for
soft_bounced       message.soft_bounced        a bounce that came back later (an in-band
                                               one is message.failed's bounce)
message.suppressed message.suppressed          message.policy_rejection
message.           message.unsubscribed        unsubscribe.list_unsubscribe /
unsubscribed                                   list_unsubscribe
(test)             webhook.test                ``[{"msys": {}}]``, what SparkPost posts
                                               to check a new endpoint
=================  ==========================  ====================================

Engagement events that do not count for metrics (scanners, previews, bots, Apple's
prefetch) go only to webhooks that ask for them with ``include_machine_events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..errors import UnknownEvents
from ..events import Event, machine_only
from ..lettermint import webhooks as lettermint
from ..lettr import webhooks as lettr
from .shared import MessageFacts

__all__ = [
    "MessageFacts",
    "encode",
    "event_names",
    "machine_only",
    "normalise_events",
    "payload",
    "webhook_test_payload",
]

_NAMES = {"lettermint": lettermint.EVENT_NAMES, "lettr": lettr.EVENT_NAMES}
_SUBSCRIPTIONS = {"lettermint": lettermint.SUBSCRIPTIONS, "lettr": lettr.SUBSCRIPTIONS}


def normalise_events(format: str, names: Iterable[str]) -> list[str]:
    """The canonical names of a subscription, in the order given, without repeats."""
    table = _SUBSCRIPTIONS[format]
    unknown = [name for name in names if name not in table]
    if unknown:
        raise UnknownEvents(unknown, format)
    return list(dict.fromkeys(table[name] for name in names))


def event_names(format: str, event: Event) -> tuple[str, ...]:
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
    if format == "lettr" and name == "message.out_of_band" and not event.data.get("out_of_band"):
        return ()  # the upstream's own refusal: its message.failed is the message.bounce
    return (name,)


def encode(body: Any) -> bytes:
    """The bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def payload(
    format: str,
    name: str,
    delivery_id: str,
    event: Event,
    message: MessageFacts,
    *,
    ip: str | None = None,  # the hit's client address, as privacy settings kept it (Lettr's)
) -> Any:
    """The body of one delivery (see the module docs for the shapes)."""
    if format == "lettr":
        return lettr.payload(name, delivery_id, event, message, ip)
    return lettermint.payload(name, delivery_id, event, message)


def webhook_test_payload(format: str, delivery_id: str, webhook_id: str, at: datetime) -> Any:
    if format == "lettr":
        return lettr.test_payload()
    return lettermint.test_payload(delivery_id, webhook_id, at)
