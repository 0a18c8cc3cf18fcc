"""Webhooks in the database: the endpoints a team registers, and the outbox's rows.

What a webhook wants and what a delivery's body holds are decided elsewhere (core/webhooks/,
service/events.py, which enqueues an event's deliveries in the transaction that writes the
event); this module reads what those decisions need in bulk (a pass's subscribers, its
messages' facts, its hits' addresses) and writes the rows. Claiming and recording attempts
is store/webhook_deliveries.py.
"""

from __future__ import annotations

import base64
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from ..core.webhooks.shared import MessageFacts
from ..core.webhooks.subscriptions import Webhook
from . import webhook_deliveries
from .ids import new_id
from .schema import messages, observations, projects, routes, webhooks
from .schema import webhook_deliveries as deliveries

__all__ = [
    "client_ips",
    "create_webhook",
    "delete_webhook",
    "delivery_row",
    "disable_webhook",
    "insert_deliveries",
    "list_webhooks",
    "message_facts",
    "new_secret",
    "public_ids",
    "subscribers",
    "update_webhook",
    "webhook_for_team",
]


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


def delivery_row(
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
    """A pending delivery, due now: its columns, for :func:`insert_deliveries`."""
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


def insert_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(deliveries.insert(), list(rows))


def subscribers(conn: Connection, project_ids: set[int]) -> dict[int, list[tuple[Webhook, bool]]]:
    """Per project: the enabled webhooks of its team whose delivery mode filter lets its
    events through, each with whether the project is a sandbox. One query."""
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


def message_facts(
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


def client_ips(conn: Connection, observation_ids: Iterable[int | None]) -> dict[int, str]:
    """The client IPs of the engagement events' observations, as privacy settings kept them
    (Lettr's payload has an ``ip_address``; Lettermint's has none)."""
    wanted = {observation_id for observation_id in observation_ids if observation_id}
    if not wanted:
        return {}
    query = select(observations.c.id, observations.c.ip).where(observations.c.id.in_(wanted))
    return {row.id: row.ip for row in conn.execute(query) if row.ip}


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
