"""Retention's deletes, one small batch per call: what workers/retention.py runs on a schedule.

Each function changes at most ``limit`` rows in the caller's transaction and says how many, so
that the worker holds the write lock (SQLite) or the rows (PostgreSQL) for a few milliseconds
at a time. Tables without an index on time are walked by id from a mark (``retention_marks``):
rows are written in time order, so a walk stops at the first row too young to purge, and the
next pass starts where it stopped, never reading a purged row again. A row written late with an
old time is purged once the walk reaches it; none is skipped.

What stays: counters (``stats_daily``, ``analytics_*``), the events with their verdicts, link
indexes and times, the messages' envelopes (addresses, subject, status), and the header block
of each message as accepted (its Message-ID answers Lettr's API).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .schema import (
    copies,
    events,
    link_invalidations,
    messages,
    observations,
    retention_marks,
    unpromoted,
    webhook_attempts,
    webhook_deliveries,
)

__all__ = [
    "SETTLED_COPIES",
    "anonymise_events",
    "mark",
    "purge_bodies",
    "purge_copies",
    "purge_deliveries",
    "purge_hits",
    "purge_invalidations",
    "set_mark",
]

# A copy's raw bytes are what the upstream is handed: only once it is settled may they go.
SETTLED_COPIES = ("delivered", "captured", "failed")


def mark(conn: Connection, name: str) -> int:
    found = conn.execute(
        select(retention_marks.c.last_id).where(retention_marks.c.name == name)
    ).scalar()
    return int(found or 0)


def set_mark(conn: Connection, name: str, last_id: int) -> None:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(retention_marks).values(name=name, last_id=last_id)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"last_id": statement.excluded.last_id}
        )
    )


def purge_hits(conn: Connection, before_us: int, limit: int) -> int:
    """Delete raw hits (IP, user agent, headers) older than ``before_us``: promoted ones (their
    events keep the verdict) and any the promoter never judged (its queue's rows go too, a
    range of its key). Walked in id order from the first hit left (hits are written in time
    order), up to the first one too young: no mark, because SQLite gives ids again from 1 once
    the table is empty, which a quiet instance's purge can make it; deleted rows leave the
    key, so no pass rereads them."""
    key = tuple_(unpromoted.c.at_us, unpromoted.c.observation_id)
    oldest = (
        select(unpromoted.c.at_us, unpromoted.c.observation_id)
        .where(unpromoted.c.at_us < before_us)
        .order_by(unpromoted.c.at_us)
        .limit(limit)
    )
    waiting = int(conn.execute(unpromoted.delete().where(key.in_(oldest))).rowcount or 0)
    if waiting >= limit:
        return waiting  # the hits themselves next time, once none of them waits
    rows = conn.execute(
        select(observations.c.id, observations.c.at_us)
        .order_by(observations.c.id)
        .limit(limit - waiting)
    )
    due: list[int] = []
    for observation_id, at_us in rows:
        if at_us >= before_us:
            break
        due.append(observation_id)
    if due:
        conn.execute(observations.delete().where(observations.c.id.in_(due)))
    return waiting + len(due)


def _walk(
    conn: Connection,
    name: str,
    table: Table,
    time_column: Column[Any],
    before: datetime,
    limit: int,
    *,
    join: Any = None,
    ready: Any = None,
) -> list[int]:
    """The ids after the mark ``name``, in id order, up to the first row not older than
    ``before`` (or not ``ready``); the mark moves past them. The caller changes them."""
    start = mark(conn, name)
    columns = [table.c.id, time_column]
    if ready is not None:
        columns.append(ready.label("ready"))
    query = select(*columns).where(table.c.id > start).order_by(table.c.id).limit(limit)
    if join is not None:
        query = query.select_from(join)
    due: list[int] = []
    for row in conn.execute(query):
        if row[1] >= before or (ready is not None and not row.ready):
            break
        due.append(row[0])
    if due:
        set_mark(conn, name, due[-1])
    return due


def purge_bodies(conn: Connection, before: datetime, limit: int) -> int:
    """Messages accepted before ``before`` lose their bodies: HTML, text, and the raw message
    but for its header block."""
    due = _walk(conn, "message_bodies", messages, messages.c.created_at, before, limit)
    if not due:
        return 0
    rows = conn.execute(select(messages.c.id, messages.c.raw).where(messages.c.id.in_(due)))
    for message_id, raw in rows.all():
        conn.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(html=None, text=None, raw=header_block(bytes(raw)))
        )
    return len(due)


def header_block(raw: bytes) -> bytes:
    """The header block of an RFC 5322 message, its blank line included."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator)
        if end >= 0:
            return raw[: end + len(separator)]
    return raw


def purge_copies(conn: Connection, before: datetime, limit: int) -> int:
    """Recipients' copies (captured mail included) of messages accepted before ``before``, once
    settled, lose their bytes (the API then answers 410: no longer kept)."""
    due = _walk(
        conn,
        "copy_bodies",
        copies,
        messages.c.created_at,
        before,
        limit,
        join=copies.join(messages, messages.c.id == copies.c.message_id),
        ready=copies.c.status.in_(SETTLED_COPIES),
    )
    if due:
        # only rows that still hold bytes: PostgreSQL writes a new version of every row updated
        kept = copies.c.raw != b""
        conn.execute(update(copies).where(copies.c.id.in_(due), kept).values(raw=b""))
    return len(due)


def purge_deliveries(conn: Connection, before: datetime, limit: int) -> int:
    """Webhook deliveries made before ``before``, once finished (nothing left to retry), lose
    their bodies (the payload, which names the recipient) and the endpoint's answers."""
    due = _walk(
        conn,
        "delivery_bodies",
        webhook_deliveries,
        webhook_deliveries.c.created_at,
        before,
        limit,
        ready=webhook_deliveries.c.next_retry_at.is_(None),
    )
    if due:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_(due), webhook_deliveries.c.payload != "")
            .values(payload="", response_body=None, response_headers=None)
        )
        conn.execute(
            update(webhook_attempts)
            .where(
                webhook_attempts.c.delivery_id.in_(due),
                webhook_attempts.c.response_body.is_not(None),
            )
            .values(response_body=None)
        )
    return len(due)


# The personal fields of an event: who it was (the address) and what they used (the user
# agent). Its type, time, link, verdict and client facts stay, anonymous.
PERSONAL_EVENT_FIELDS: dict[str, Any] = {"recipient": None, "user_agent": None}


def anonymise_events(conn: Connection, before: datetime, limit: int) -> int:
    due = _walk(conn, "event_fields", events, events.c.at, before, limit)
    if due:
        personal = or_(*(events.c[name].is_not(None) for name in PERSONAL_EVENT_FIELDS))
        conn.execute(
            update(events).where(events.c.id.in_(due), personal).values(**PERSONAL_EVENT_FIELDS)
        )
    return len(due)


def purge_invalidations(conn: Connection, before: datetime, limit: int) -> int:
    """The link feed's entries older than ``before``: every running process has long followed
    them. The newest stays, so that a process back after longer can tell that entries it
    missed are gone (service/link_feed.py)."""
    newest = select(func.max(link_invalidations.c.id)).scalar_subquery()
    ids: Sequence[int] = [
        row[0]
        for row in conn.execute(
            select(link_invalidations.c.id)
            .where(link_invalidations.c.at < before, link_invalidations.c.id < newest)
            .order_by(link_invalidations.c.at)
            .limit(limit)
        )
    ]
    if ids:
        conn.execute(link_invalidations.delete().where(link_invalidations.c.id.in_(ids)))
    return len(ids)
