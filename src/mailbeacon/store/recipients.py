"""One recipient's copy with what its after-sending events need (bounces, unsubscribes):
whose it is (team, project, route), its message's tag and type, and whether it has had an
event of a kind already."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from .schema import copies, events, messages, projects, routes

__all__ = ["CopyFacts", "copy_facts", "had_event", "mark_unsubscribed"]


@dataclass(frozen=True, slots=True)
class CopyFacts:
    copy_id: int
    recipient: str
    message_id: int
    project_id: int
    team_id: int
    route_id: int | None
    route_type: str | None  # transactional, broadcast (None: the route is gone)
    tag: str | None
    sent_at: datetime  # when the message was accepted


def copy_facts(conn: Connection, copy_id: int) -> CopyFacts | None:
    row = conn.execute(
        select(
            copies.c.id,
            copies.c.recipient,
            copies.c.message_id,
            messages.c.project_id,
            projects.c.team_id,
            messages.c.route_id,
            routes.c.route_type,
            messages.c.tag,
            messages.c.created_at,
        )
        .select_from(
            copies.join(messages, messages.c.id == copies.c.message_id)
            .join(projects, projects.c.id == messages.c.project_id)
            .outerjoin(routes, routes.c.id == messages.c.route_id)
        )
        .where(copies.c.id == copy_id)
    ).first()
    if row is None:
        return None
    return CopyFacts(
        row.id,
        row.recipient,
        row.message_id,
        row.project_id,
        row.team_id,
        row.route_id,
        row.route_type,
        row.tag,
        row.created_at,
    )


def had_event(conn: Connection, copy_id: int, event_type: str) -> bool:
    """Whether the copy has an event of this type (the (copy_id, at, type, ...) index)."""
    found = conn.execute(
        select(events.c.id).where(events.c.copy_id == copy_id, events.c.type == event_type).limit(1)
    ).first()
    return found is not None


def mark_unsubscribed(conn: Connection, copy_id: int, now: datetime) -> bool:
    """Record the copy's unsubscribe once: whether this call was the one (a second POST, or
    two at once on PostgreSQL, finds it set and changes nothing)."""
    changed = conn.execute(
        update(copies)
        .where(copies.c.id == copy_id, copies.c.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now)
    )
    return bool(changed.rowcount)
