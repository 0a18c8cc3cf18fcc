"""Webhooks: the endpoints a team registers, and the outbox that feeds them.

:func:`enqueue_events` runs inside the transaction that writes the events (accepting a
message, promoting observations, the outbound queue recording an outcome), so an event and
its deliveries are committed together or not at all: nothing is lost between them, and a
delivery never names an event that was rolled back. Per batch it costs one query when the
projects' teams have no enabled webhook, and one more for the messages' subject, metadata
and tag when they do. Each delivery's body is built then, once: every attempt sends the same
bytes with the same id (core/webhooks/payloads.py).

The outbox itself (claiming, recording attempts, the delivery log) is store/webhook_deliveries.py.
"""

from __future__ import annotations

import base64
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from ..core.webhooks.payloads import (
    EventFacts,
    MessageFacts,
    encode,
    event_names,
    machine_only,
    payload,
    webhook_test_payload,
)
from . import webhook_deliveries
from .events import NewEvent
from .ids import new_id
from .schema import messages, observations, projects, routes, webhooks
from .schema import webhook_deliveries as deliveries

__all__ = [
    "Webhook",
    "create_webhook",
    "delete_webhook",
    "disable_webhook",
    "enqueue_events",
    "enqueue_test",
    "list_webhooks",
    "new_secret",
    "public_ids",
    "update_webhook",
    "webhook_for_team",
]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    public_id: str
    team_id: int
    name: str
    url: str
    format: str
    events: tuple[str, ...]
    enabled: bool
    include_machine_events: bool
    scope: str
    project_ids: tuple[int, ...]
    route_ids: tuple[int, ...]
    delivery_mode_filter: str
    secret: str
    basic_auth: tuple[str, str] | None
    disabled_reason: str | None
    last_called_at: datetime | None
    created_at: datetime
    updated_at: datetime


def new_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes: the Lettermint SDK keys its HMAC with the
    whole string, Standard Webhooks verifiers with the bytes after the prefix."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhook(row: Row[Any]) -> Webhook:
    auth = row.basic_auth
    return Webhook(
        id=row.id,
        public_id=row.public_id,
        team_id=row.team_id,
        name=row.name,
        url=row.url,
        format=row.format,
        events=tuple(row.events),
        enabled=row.enabled,
        include_machine_events=row.include_machine_events,
        scope=row.scope,
        project_ids=tuple(row.project_ids),
        route_ids=tuple(row.route_ids),
        delivery_mode_filter=row.delivery_mode_filter,
        secret=row.secret,
        basic_auth=(auth["username"], auth["password"]) if auth else None,
        disabled_reason=row.disabled_reason,
        last_called_at=row.last_called_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create_webhook(conn: Connection, team_id: int, now: datetime, **values: Any) -> Webhook:
    """A new webhook with a new secret; ``values`` are its columns (basic_auth as a dict)."""
    row = conn.execute(
        webhooks.insert()
        .values(
            public_id=new_id(),
            team_id=team_id,
            secret=new_secret(),
            created_at=now,
            updated_at=now,
            **values,
        )
        .returning(*webhooks.c)
    ).one()
    return _webhook(row)


def webhook_for_team(conn: Connection, team_id: int, public_id: str) -> Webhook | None:
    query = select(webhooks).where(webhooks.c.team_id == team_id, webhooks.c.public_id == public_id)
    row = conn.execute(query).first()
    return _webhook(row) if row else None


def list_webhooks(conn: Connection, team_id: int) -> list[Webhook]:
    query = select(webhooks).where(webhooks.c.team_id == team_id).order_by(webhooks.c.id)
    return [_webhook(row) for row in conn.execute(query)]


def update_webhook(conn: Connection, webhook_id: int, now: datetime, **values: Any) -> Webhook:
    row = conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(updated_at=now, **values)
        .returning(*webhooks.c)
    ).one()
    return _webhook(row)


def disable_webhook(conn: Connection, webhook_id: int, now: datetime, reason: str | None) -> None:
    """Turn a webhook off; what it still had to deliver is given up (see the delivery log)."""
    update_webhook(conn, webhook_id, now, enabled=False, disabled_reason=reason)
    webhook_deliveries.cancel_pending(
        conn, [webhook_id], now, reason or "The webhook was disabled."
    )


def delete_webhook(conn: Connection, webhook_id: int) -> None:
    conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))  # and its log, cascaded


# --- the outbox ------------------------------------------------------------------------------


def _row(
    public_id: str,
    webhook_id: int,
    event_type: str,
    body: bytes,
    now: datetime,
    *,
    project_id: int | None = None,
    route_id: int | None = None,
    sandbox: bool = False,
) -> dict[str, Any]:
    return {
        "public_id": public_id,
        "webhook_id": webhook_id,
        "project_id": project_id,
        "route_id": route_id,
        "event_type": event_type,
        "sandbox": sandbox,
        "payload": body.decode(),
        "status": "pending",
        "attempt_number": 0,
        "next_retry_at": now,
        "created_at": now,
        "updated_at": now,
    }


def enqueue_test(conn: Connection, webhook: Webhook, now: datetime) -> str:
    """A ``webhook.test`` delivery, due now; its public id."""
    public_id = new_id()
    body = encode(webhook_test_payload(webhook.format, public_id, webhook.public_id, now))
    conn.execute(deliveries.insert().values(_row(public_id, webhook.id, "webhook.test", body, now)))
    return public_id


def enqueue_events(
    conn: Connection, found: Iterable[NewEvent | Mapping[str, Any]], now: datetime
) -> int:
    """Deliveries of ``found`` (new events, as NewEvent or as the events table's row dicts)
    to every enabled webhook that wants them; how many."""
    rows = [_columns(event) for event in found]
    if not rows:
        return 0
    hooks = _subscribers(conn, {row["project_id"] for row in rows})
    if not hooks:
        return 0
    about = _messages(conn, {row["message_id"] for row in rows})
    ips = _ips(conn, rows) if any(h.format == "lettr" for h, _ in _flat(hooks)) else {}
    made: list[dict[str, Any]] = []
    for row in rows:
        message = about.get(row["message_id"])
        if message is None:
            continue
        facts, route_id = message
        event = _facts(row, ips.get(row.get("observation_id") or 0))
        for hook, sandbox in hooks.get(row["project_id"], ()):
            if not _wants(hook, row["project_id"], route_id, event):
                continue
            for name in event_names(hook.format, event):
                if name in hook.events:
                    public_id = new_id()
                    body = encode(payload(hook.format, name, public_id, event, facts))
                    made.append(
                        _row(
                            public_id,
                            hook.id,
                            name,
                            body,
                            now,
                            project_id=row["project_id"],
                            route_id=route_id,
                            sandbox=sandbox,
                        )
                    )
    if made:
        conn.execute(deliveries.insert(), made)
    return len(made)


def _columns(event: NewEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(event, NewEvent):
        return {name: getattr(event, name) for name in NewEvent.__dataclass_fields__}
    return event


def _flat(hooks: Mapping[int, Sequence[tuple[Webhook, bool]]]) -> Iterable[tuple[Webhook, bool]]:
    for found in hooks.values():
        yield from found


def _subscribers(conn: Connection, project_ids: set[int]) -> dict[int, list[tuple[Webhook, bool]]]:
    """Per project: the enabled webhooks of its team whose delivery mode filter lets its
    events through, each with whether the project is a sandbox."""
    query = (
        select(webhooks, projects.c.id.label("source"), projects.c.delivery_mode.label("mode"))
        .join(projects, projects.c.team_id == webhooks.c.team_id)
        .where(projects.c.id.in_(project_ids), webhooks.c.enabled.is_(True))
        .order_by(webhooks.c.id)
    )
    found: dict[int, list[tuple[Webhook, bool]]] = defaultdict(list)
    for row in conn.execute(query):
        if row.delivery_mode_filter in ("both", row.mode):
            found[row.source].append((_webhook(row), row.mode == "sandbox"))
    return found


def _wants(hook: Webhook, project_id: int, route_id: int | None, event: EventFacts) -> bool:
    if hook.scope == "project" and project_id not in hook.project_ids:
        return False
    if hook.scope == "route" and route_id not in hook.route_ids:
        return False
    return hook.include_machine_events or not machine_only(event)


def _messages(
    conn: Connection, message_ids: set[int]
) -> dict[int, tuple[MessageFacts, int | None]]:
    query = select(
        messages.c.id,
        messages.c.public_id,
        messages.c.route_id,
        messages.c.subject,
        messages.c.metadata,
        messages.c.tag,
        messages.c.from_email,
        messages.c.from_name,
        messages.c.to,
        messages.c.cc,
        messages.c.bcc,
        messages.c.track_opens,
        messages.c.track_clicks,
        messages.c.transactional,
        messages.c.created_at,
    ).where(messages.c.id.in_(message_ids))
    found = {}
    for row in conn.execute(query):
        people = tuple(
            (person["email"], kind)
            for kind, group in (("to", row.to), ("cc", row.cc), ("bcc", row.bcc))
            for person in group
        )
        facts = MessageFacts(
            public_id=row.public_id,
            subject=row.subject,
            metadata=dict(row.metadata or {}),
            tag=row.tag,
            from_email=row.from_email,
            from_name=row.from_name,
            recipients=people,
            track_opens=row.track_opens,
            track_clicks=row.track_clicks,
            transactional=row.transactional,
            created_at=row.created_at,
        )
        found[row.id] = (facts, row.route_id)
    return found


def _ips(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """The client IPs of the engagement events' observations, as privacy settings kept them
    (Lettr's payload has an ``ip_address``; Lettermint's has none)."""
    wanted = {row["observation_id"] for row in rows if row.get("observation_id")}
    if not wanted:
        return {}
    query = select(observations.c.id, observations.c.ip).where(observations.c.id.in_(wanted))
    return {row.id: row.ip for row in conn.execute(query) if row.ip}


def _facts(row: Mapping[str, Any], ip: str | None) -> EventFacts:
    return EventFacts(
        type=row["type"],
        at=row["at"],
        recipient=row.get("recipient"),
        link_index=row.get("link_index"),
        url=row.get("url"),
        anchor_text=row.get("anchor_text"),
        first=row.get("first"),
        classification=row.get("classification"),
        probability=row.get("probability"),
        proxy_type=row.get("proxy_type"),
        family=row.get("family"),
        reason_codes=tuple(row.get("reason_codes") or ()),
        details=tuple(row.get("details") or ()),
        machine=row.get("machine"),
        counts_for_metrics=row.get("counts_for_metrics"),
        device_type=row.get("device_type"),
        client_type=row.get("client_type"),
        client_name=row.get("client_name"),
        user_agent=row.get("user_agent"),
        ip=ip,
        data=dict(row.get("data") or {}),
    )


def public_ids(
    conn: Connection, project_ids: Iterable[int], route_ids: Iterable[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """The public ids of projects and routes a webhook names (a deleted one is left out)."""
    wanted_projects, wanted_routes = set(project_ids), set(route_ids)
    found_projects: dict[int, str] = {}
    found_routes: dict[int, str] = {}
    if wanted_projects:
        query = select(projects.c.id, projects.c.public_id).where(
            projects.c.id.in_(wanted_projects)
        )
        found_projects = {row.id: row.public_id for row in conn.execute(query)}
    if wanted_routes:
        query = select(routes.c.id, routes.c.public_id).where(routes.c.id.in_(wanted_routes))
        found_routes = {row.id: row.public_id for row in conn.execute(query)}
    return found_projects, found_routes
