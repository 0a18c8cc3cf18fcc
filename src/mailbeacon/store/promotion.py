"""What a promotion pass reads and writes besides events and rollups, a whole batch at once.

The promoter (workers/promoter.py) judges thousands of observations per pass, so every query
here takes the whole batch and fetches it with one ``.all()``: iterating a result row by row
cost SQLAlchemy several microseconds a row, more than the database's own work. Rows are read
as tuples and never turned into objects. A batch's ids are bound as one value
(:func:`_among`), not one parameter each.

Observations keep no copy index (see store/schema.py), so a copy's earlier hits are found
through their events: each promoted observation has exactly one, with the same copy.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from .schema import copies, events, links, messages, observations

__all__ = [
    "ENGAGEMENT",
    "CopyRow",
    "LinkRow",
    "Observed",
    "RecentRow",
    "SeenRow",
    "claim",
    "copy_contexts",
    "links_of",
    "mark_promoted",
    "read",
    "recent",
    "seen",
]

ENGAGEMENT = ("message.opened", "message.clicked")

# id, copy_id, kind, link_index, at_us, method, ip, user_agent, headers (JSON text): what the
# promoter reads of an observation (all but the host)
Observed = tuple[int, int, int, int, int, str, str | None, str, str]
# copy id, message id, recipient, delivered_at, project id, route id, tag
CopyRow = tuple[int, int, str, datetime | None, int, int | None, str | None]
# message id, link index, url, anchor text
LinkRow = tuple[int, int, str, str]
# copy id, event type, counts_for_metrics, classification
SeenRow = tuple[int, str, bool | None, str | None]
# copy id, observation id
RecentRow = tuple[int, int]

_OBSERVED = (
    observations.c.id,
    observations.c.copy_id,
    observations.c.kind,
    observations.c.link_index,
    observations.c.at_us,
    observations.c.method,
    observations.c.ip,
    observations.c.user_agent,
    observations.c.headers,
)


def claim(conn: Connection, upto_us: int, limit: int, *, skip_locked: bool) -> Sequence[Observed]:
    """Unpromoted observations from before ``upto_us``, oldest first. ``skip_locked``
    (PostgreSQL): rows another promoter's pass holds are left to it, and the ones returned
    stay locked until this transaction ends."""
    query = (
        select(*_OBSERVED)
        .where(observations.c.promoted.is_(False), observations.c.at_us <= upto_us)
        .order_by(observations.c.at_us, observations.c.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return _rows(conn, query)


def read(conn: Connection, ids: Collection[int]) -> Sequence[Observed]:
    """Observations by id, in no particular order."""
    query = select(*_OBSERVED).where(_among(conn, observations.c.id, ids))
    return _rows(conn, query)


def copy_contexts(conn: Connection, copy_ids: Collection[int]) -> Sequence[CopyRow]:
    """What the events of these copies name, for each copy that still exists."""
    query = (
        select(
            copies.c.id,
            copies.c.message_id,
            copies.c.recipient,
            copies.c.delivered_at,
            messages.c.project_id,
            messages.c.route_id,
            messages.c.tag,
        )
        .join(messages, messages.c.id == copies.c.message_id)
        .where(_among(conn, copies.c.id, copy_ids))
    )
    return _rows(conn, query)


def links_of(conn: Connection, message_ids: Collection[int]) -> Sequence[LinkRow]:
    """Every tracked link of these messages."""
    query = select(links.c.message_id, links.c.link_index, links.c.url, links.c.anchor_text)
    return _rows(conn, query.where(_among(conn, links.c.message_id, message_ids)))


def seen(conn: Connection, copy_ids: Collection[int]) -> Sequence[SeenRow]:
    """Which engagement events these copies already have: each (type, counts_for_metrics,
    classification) once per copy."""
    query = (
        select(
            events.c.copy_id, events.c.type, events.c.counts_for_metrics, events.c.classification
        )
        .where(_among(conn, events.c.copy_id, copy_ids), events.c.type.in_(ENGAGEMENT))
        .distinct()
    )
    return _rows(conn, query)


def recent(conn: Connection, copy_ids: Collection[int], since: datetime) -> Sequence[RecentRow]:
    """The observations these copies' click events (honeypot hits included) from ``since`` on
    were promoted from: the earlier hits that classification's patterns can span (bursts, all
    links, the honeypot's company). An earlier open takes part in none of them; leaving opens
    out spares the promoter 15% of these rows in bench/promote, where a copy's prefetched and
    proxied opens were re-read by every pass of the next minutes."""
    query = select(events.c.copy_id, events.c.observation_id).where(
        _among(conn, events.c.copy_id, copy_ids),
        events.c.at >= since,
        events.c.type == ENGAGEMENT[1],
        events.c.observation_id.is_not(None),
    )
    return _rows(conn, query)


def mark_promoted(conn: Connection, ids: Collection[int]) -> int:
    """Mark these observations promoted; how many were not yet (fewer than ``ids``: another
    promoter took some first)."""
    result = conn.execute(
        update(observations)
        .where(_among(conn, observations.c.id, ids), observations.c.promoted.is_(False))
        .values(promoted=True)
    )
    return int(result.rowcount)


def _rows(conn: Connection, query: Select[Any]) -> Sequence[Any]:
    """All rows at once. They are Row objects, which unpack and index as tuples: the callers
    type them as the tuples above (SQLAlchemy 2.0 and 2.1 spell Row's type differently)."""
    return conn.execute(query).all()


def _among(
    conn: Connection, column: ColumnElement[int], ids: Collection[int]
) -> ColumnElement[bool]:
    """``column IN ids``, the ids bound as one value: an array on PostgreSQL (``= ANY``), a
    JSON array on SQLite (``json_each``). SQLAlchemy's IN renders, names and binds a parameter
    per id: about 1.5 us an id, nearly half as much again as SQLite's lookups."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))
    listed = bindparam(None, json.dumps(list(ids)), type_=Text)
    return column.in_(select(literal_column("value")).select_from(func.json_each(listed)))
