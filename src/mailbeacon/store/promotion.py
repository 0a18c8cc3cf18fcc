"""What a promotion pass reads and writes besides events and rollups, a whole batch at once.

The promoter (workers/promoter.py) judges thousands of observations per pass, so every query
here takes the whole batch and fetches it with one ``.all()``: iterating a result row by row
cost SQLAlchemy several microseconds a row, more than the database's own work. Rows are read
as tuples and never turned into objects. A batch's ids are bound as one value
(:func:`_among`), not one parameter each.

What a copy's past hits and events mean for judging its next ones is its summary
(core/history.py), one ``copy_states`` row: a pass reads one row per copy it judges, however
many hits the copy has had, where it read the copy's events before.
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
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .schema import copies, copy_states, links, messages, observations, unpromoted

__all__ = [
    "ENGAGEMENT",
    "CopyRow",
    "LinkRow",
    "Observed",
    "StateRow",
    "claim",
    "copy_contexts",
    "links_of",
    "mark_promoted",
    "save_states",
    "states",
]

ENGAGEMENT = ("message.opened", "message.clicked")

# id, copy_id, kind, link_index, at_us, method, ip, user_agent, headers (JSON text): what the
# promoter reads of an observation (all but the host)
Observed = tuple[int, int, int, int, int, str, str | None, str, str]
# copy id, message id, recipient, delivered_at, project id, route id, tag
CopyRow = tuple[int, int, str, datetime | None, int, int | None, str | None]
# message id, link index, url, anchor text
LinkRow = tuple[int, int, str, str]
# copy id, opens, clicks, hits, recent, linked (a copy's summary, core/history.py)
StateRow = tuple[int, int, int, int, str, str]

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
_STATE_NAMES = ("copy_id", "opens", "clicks", "hits", "recent", "linked")
_STATE = tuple(copy_states.c[name] for name in _STATE_NAMES)


def claim(conn: Connection, upto_us: int, limit: int, *, skip_locked: bool) -> Sequence[Observed]:
    """Unpromoted observations from before ``upto_us``, oldest first: a range of
    ``unpromoted``'s key. ``skip_locked`` (PostgreSQL): rows another promoter's pass holds are
    left to it, and the ones returned stay locked until this transaction ends."""
    query = (
        select(*_OBSERVED)
        .select_from(unpromoted)
        .join(observations, observations.c.id == unpromoted.c.observation_id)
        .where(unpromoted.c.at_us <= upto_us)
        .order_by(unpromoted.c.at_us, unpromoted.c.observation_id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(of=unpromoted, skip_locked=True)
    return _tuples(conn, query)


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


def states(conn: Connection, copy_ids: Collection[int], *, lock: bool) -> Sequence[StateRow]:
    """The summaries (core/history.py) of those of these copies that have one.

    ``lock`` (PostgreSQL): first make the missing ones (for copies that still exist) and lock
    them all, in copy id order, until the transaction ends, then read them: one pass at a time
    judges a copy, and it reads what the previous one committed. One statement takes every
    lock in the same order (the rows are made and locked in the order the ids are sorted), so
    two passes over overlapping copies wait for each other and never deadlock.
    """
    if not lock:
        query = select(*_STATE).where(_among(conn, copy_states.c.copy_id, copy_ids))
        return _tuples(conn, query)
    ids = bindparam("ids", sorted(copy_ids), type_=ARRAY(BigInteger))
    statement = (
        pg_insert(copy_states)
        .from_select(
            ["copy_id"],
            select(copies.c.id).where(copies.c.id == any_(ids)).order_by(copies.c.id),
        )
        .on_conflict_do_update(index_elements=["copy_id"], set_={"hits": copy_states.c.hits})
        .returning(*_STATE)
    )
    return _tuples(conn, statement)


def save_states(conn: Connection, rows: Sequence[StateRow]) -> None:
    """Write these summaries, made or replaced (one executemany)."""
    if not rows:
        return
    insert: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(copy_states)
    statement = statement.on_conflict_do_update(
        index_elements=["copy_id"],
        set_={name: statement.excluded[name] for name in _STATE_NAMES[1:]},
    )
    conn.execute(statement, [dict(zip(_STATE_NAMES, row, strict=True)) for row in rows])


def mark_promoted(conn: Connection, found: Sequence[Observed]) -> int:
    """Mark these observations promoted (their ``unpromoted`` rows go, by key); how many were
    not yet (fewer than ``found``: another promoter took some first)."""
    if conn.dialect.name == "postgresql":
        keys = [(observation[4], observation[0]) for observation in found]
        result = conn.exec_driver_sql(
            "DELETE FROM unpromoted WHERE (at_us, observation_id) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::bigint[]))",
            ([at_us for at_us, _ in keys], [id_ for _, id_ in keys]),
        )
    else:
        pairs = json.dumps([[observation[4], observation[0]] for observation in found])
        result = conn.exec_driver_sql(
            "DELETE FROM unpromoted WHERE (at_us, observation_id) IN "
            "(SELECT value ->> 0, value ->> 1 FROM json_each(?))",
            (pairs,),
        )
    return int(result.rowcount)


def _rows(conn: Connection, query: Select[Any]) -> Sequence[Any]:
    """All rows at once. They are Row objects, which unpack and index as tuples: the callers
    type them as the tuples above (SQLAlchemy 2.0 and 2.1 spell Row's type differently)."""
    return conn.execute(query).all()


def _tuples(conn: Connection, query: Any) -> Sequence[Any]:
    """All rows at once as the driver's own tuples, for queries whose columns need no type
    processing (integers and text): a pass claims 10,000 observations, and making a Row of
    each cost SQLAlchemy more than the driver's fetch (~7 us a row on SQLite)."""
    result = conn.execute(query)
    try:
        rows: Sequence[Any] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


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
