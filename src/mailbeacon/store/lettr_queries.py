"""The reads behind Lettr's ``GET /emails/{request_id}``.

Lettr's keys belong to one project, so every query here takes the caller's project id: a
request id of another project (same team or not) is simply not found (DESIGN.md, invariant 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from sqlalchemy import Connection, select

from ..core.events import Event
from . import messages
from .events import event_from_row
from .schema import copies, events, observations
from .schema import messages as messages_table

__all__ = ["EventView", "events_in_window", "header_message_id", "message_in_project"]

# Lettr's GET has no pagination: this bounds one answer (the oldest events come first).
MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class EventView:
    """An event with what its recipient's copy and its observation add to it."""

    event: Event
    recipient_kind: str | None  # to, cc, bcc; None for message-wide events
    ip: str | None  # as the privacy setting stored it; None for non-engagement events


def message_in_project(
    conn: Connection, project_id: int, public_id: str
) -> messages.MessageRecord | None:
    found = conn.execute(
        select(messages_table.c.id).where(
            messages_table.c.project_id == project_id, messages_table.c.public_id == public_id
        )
    ).first()
    return messages.message_by_id(conn, found.id) if found else None


def header_message_id(conn: Connection, message_id: int) -> str | None:
    """The Message-ID header every copy carries, without its angle brackets."""
    raw = messages.message_raw(conn, message_id)
    if raw is None:
        return None
    value = BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Message-ID")
    bare = str(value or "").strip().strip("<>")
    return bare or None


def events_in_window(
    conn: Connection,
    project_id: int,
    message_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[EventView]:
    """The message's events, oldest first, machine ones included (Lettr has no flag to ask
    for them, so they are labelled instead: labels, not drops)."""
    query = (
        select(events, copies.c.recipient_kind, observations.c.ip)
        .outerjoin(copies, copies.c.id == events.c.copy_id)
        .outerjoin(observations, observations.c.id == events.c.observation_id)
        .where(events.c.project_id == project_id, events.c.message_id == message_id)
    )
    if since is not None:
        query = query.where(events.c.at >= since)
    if until is not None:
        query = query.where(events.c.at <= until)
    rows = conn.execute(query.order_by(events.c.id).limit(MAX_EVENTS))
    return [
        EventView(
            event_from_row(row),
            row.recipient_kind,
            row.ip,
        )
        for row in rows
    ]
