"""Recording events: the one place that does it.

Three writers make events: accepting a message (``message.created``), the outbound queue
(``message.sent`` / ``message.failed``) and the promoter (``message.opened`` /
``message.clicked`` with their verdicts). Each calls :func:`record` inside its own
transaction, which

1. inserts the events (store/events.py),
2. enqueues a delivery for every enabled webhook that wants each one (core/webhooks/
   subscriptions.py decides, core/webhooks/payloads.py shapes the body, once: every attempt
   sends the same bytes with the same id), and
3. adds the caller's daily counters (store/rollups.py) and the hourly analytics counters the
   events make, hourly and per dimension value daily (store/analytics_rollups.py, judged
   from the analytics catalogue),

so an event, its deliveries and its counters are committed together or not at all: nothing is
lost between them, and a delivery never names an event that was rolled back. Per batch it
costs one query when the projects' teams have no enabled webhook, and two or three more (the
messages' facts, and the hits' addresses for Lettr's payload) when they do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.events import Event
from ..core.webhooks.payloads import encode, event_names, payload, webhook_test_payload
from ..core.webhooks.subscriptions import Webhook, wants
from ..store import analytics_rollups, rollups, webhooks
from ..store import events as event_store
from ..store.ids import new_id

__all__ = ["analytics_of", "enqueue", "enqueue_test", "record"]


def record(
    conn: Connection,
    found: Sequence[Event],
    now: datetime,
    counters: rollups.Deltas | None = None,
    *,
    analytics: analytics_rollups.Deltas | None = None,
) -> None:
    """Write ``found`` with their webhook deliveries and ``counters``, in the caller's
    transaction. ``analytics``: the analytics increments of ``found``, when the caller made
    them beforehand (:func:`analytics_of`)."""
    event_store.insert_many(conn, found)
    enqueue(conn, found, now)
    if analytics is None:
        analytics = analytics_rollups.deltas(conn, found)
    analytics_rollups.add(conn, analytics)
    if counters is not None:
        rollups.add(conn, counters)


def analytics_of(conn: Connection, found: Sequence[Event]) -> analytics_rollups.Deltas:
    """The analytics increments ``found`` make, for :func:`record` (one read: their messages'
    facts). The promoter makes them before it takes SQLite's write lock: about 3 us an event
    of pure work that other writers no longer wait through."""
    return analytics_rollups.deltas(conn, found)


def enqueue(conn: Connection, found: Sequence[Event], now: datetime) -> int:
    """Deliveries of ``found`` to every enabled webhook that wants them; how many."""
    if not found:
        return 0
    hooks = webhooks.subscribers(conn, {event.project_id for event in found})
    if not hooks:
        return 0
    about = webhooks.message_facts(conn, {event.message_id for event in found})
    lettr = any(hook.format == "lettr" for listed in hooks.values() for hook, _ in listed)
    ips = webhooks.client_ips(conn, (e.observation_id for e in found)) if lettr else {}
    made: list[dict[str, Any]] = []
    for event in found:
        message = about.get(event.message_id)
        if message is None:
            continue
        facts, route_id = message
        ip = ips.get(event.observation_id or 0)
        for hook, sandbox in hooks.get(event.project_id, ()):
            if not wants(hook, event.project_id, route_id, event):
                continue
            for name in event_names(hook.format, event):
                if name in hook.events:
                    public_id = new_id()
                    body = encode(payload(hook.format, name, public_id, event, facts, ip=ip))
                    made.append(
                        webhooks.delivery_row(
                            public_id,
                            hook.id,
                            name,
                            body,
                            now,
                            project_id=event.project_id,
                            route_id=route_id,
                            sandbox=sandbox,
                        )
                    )
    webhooks.insert_deliveries(conn, made)
    return len(made)


def enqueue_test(conn: Connection, webhook: Webhook, now: datetime) -> str:
    """A ``webhook.test`` delivery, due now; its public id."""
    public_id = new_id()
    body = encode(webhook_test_payload(webhook.format, public_id, webhook.public_id, now))
    webhooks.insert_deliveries(
        conn, [webhooks.delivery_row(public_id, webhook.id, "webhook.test", body, now)]
    )
    return public_id
