"""Events in the database: written in bulk, read back as :class:`~mailbeacon.core.events.Event`.

Only service/events.py writes them (with their webhook deliveries and counters, in one
transaction); the APIs read them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, exists, false, func, or_, select

from ..core.events import Event
from .schema import copies, events, observations

__all__ = [
    "EventView",
    "ProjectEventFilter",
    "count_project_events",
    "created_events",
    "event_from_row",
    "events_with_context",
    "insert_many",
    "list_events",
    "project_events",
]

_FIELDS = Event._fields


def event_from_row(row: Row[Any]) -> Event:
    """An ``events`` row (all its columns, under their names) as an Event."""
    return Event._make(getattr(row, name) for name in _FIELDS)


def list_events(
    conn: Connection,
    message_id: int,
    *,
    include_machine: bool,
    after_id: int | None = None,
    limit: int = 100,
) -> list[Event]:
    """Oldest first. Machine engagement events only when asked for (labels, not drops: they
    are stored either way)."""
    query = select(events).where(events.c.message_id == message_id)
    if not include_machine:
        query = query.where(events.c.machine.is_not(True))
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    rows = conn.execute(query.order_by(events.c.id).limit(limit))
    return [event_from_row(row) for row in rows]


_COLUMNS = _FIELDS[:-1]  # all but the id, which the database assigns
# insert_many unpacks an event's fields by position, in this order
assert _COLUMNS == (
    "public_id",
    "project_id",
    "message_id",
    "type",
    "at",
    "copy_id",
    "observation_id",
    "recipient",
    "link_index",
    "url",
    "anchor_text",
    "first",
    "classification",
    "probability",
    "proxy_type",
    "family",
    "reason_codes",
    "details",
    "machine",
    "counts_for_metrics",
    "device_type",
    "client_type",
    "client_name",
    "user_agent",
    "data",
    "firsts",
), _COLUMNS
_INSERT = {  # by the driver's parameter marker: sqlite3's, psycopg's
    marker: f"INSERT INTO events ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join([marker] * len(_COLUMNS))})"
    for marker in ("?", "%s")
}


def insert_many(conn: Connection, found: Sequence[Event]) -> None:
    """Insert events in one executemany, converting values directly: SQLAlchemy's per-value
    type processing cost more than the promoter's judging. Produces exactly what the typed
    columns would store (the tests read the rows back)."""
    if not found:
        return
    sqlite = conn.dialect.name == "sqlite"
    encoded: dict[Any, str] = {}  # a batch repeats the same reason codes and details
    # ... often as the very same objects (the promoter's verdicts are remembered): encoded
    # once per object, by identity (every one is alive in ``found`` while this runs)
    seen: dict[int, str] = {}
    params: list[tuple[Any, ...]] = []
    add = params.append
    # Each event unpacked into names and rebuilt as one tuple (170 ns; a list copy, indexed
    # assignments and a tuple again took 200; slices of the event and one tuple of them, 300).
    for (
        public_id,
        project_id,
        message_id,
        event_type,
        at,
        copy_id,
        observation_id,
        recipient,
        link_index,
        url,
        anchor_text,
        first,
        classification,
        probability,
        proxy_type,
        family,
        reason_codes,
        details,
        machine,
        counts_for_metrics,
        device_type,
        client_type,
        client_name,
        user_agent,
        data,
        firsts,
        _,
    ) in found:
        codes = notes = extra = None  # the JSON columns' text
        if reason_codes is not None:
            codes = seen.get(id(reason_codes))
            if codes is None:
                codes = seen[id(reason_codes)] = _json(reason_codes, encoded)
        if details is not None:
            notes = seen.get(id(details))
            if notes is None:
                notes = seen[id(details)] = _json(details, encoded)
        if data is not None:
            extra = seen.get(id(data))
            if extra is None:
                extra = seen[id(data)] = _json(data, encoded)
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        # SQLite: SQLAlchemy's format, always with microseconds, without UTC's "+00:00" (cut
        # off the text: a naive copy first added 190 ns to the 690); strftime costs 3x more
        moment: Any = at.isoformat(" ", "microseconds")[:-6] if sqlite else at.replace(tzinfo=None)
        add(
            (
                public_id,
                project_id,
                message_id,
                event_type,
                moment,
                copy_id,
                observation_id,
                recipient,
                link_index,
                url,
                anchor_text,
                first,
                classification,
                probability,
                proxy_type,
                family,
                codes,
                notes,
                machine,
                counts_for_metrics,
                device_type,
                client_type,
                client_name,
                user_agent,
                extra,
                firsts,
            )
        )
    conn.exec_driver_sql(_INSERT["?" if sqlite else "%s"], params)


def _json(value: Any, encoded: dict[Any, str]) -> str:
    """``json.dumps(value)``, remembered in ``encoded`` for arrays of hashable items."""
    if isinstance(value, tuple | list):
        try:
            key = value if isinstance(value, tuple) else tuple(value)
            text = encoded.get(key)
            if text is None:
                text = encoded[key] = json.dumps(value)
            return text
        except TypeError:  # unhashable items
            pass
    elif not value:
        return "{}"
    elif not isinstance(value, dict):
        value = dict(value)
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class EventView:
    """An event with what its recipient's copy and its observation add to it."""

    event: Event
    recipient_kind: str | None  # to, cc, bcc; None for message-wide events
    ip: str | None  # as the privacy setting stored it; None for non-engagement events


def events_with_context(
    conn: Connection,
    project_id: int,
    message_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[EventView]:
    """The message's events, oldest first, machine ones included (labels, not drops), each
    with its copy's recipient kind and its hit's client address."""
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
    rows = conn.execute(query.order_by(events.c.id).limit(limit))
    return [EventView(event_from_row(row), row.recipient_kind, row.ip) for row in rows]


@dataclass(frozen=True, slots=True)
class ProjectEventFilter:
    """Which of a project's events a list shows; every part narrows it."""

    types: frozenset[str]  # event types; empty: none at all
    since: datetime
    until: datetime
    message_id: int | None = None
    recipients: tuple[str, ...] = ()  # lower case; message-wide events: one of its copies'
    permanent: frozenset[bool] | None = None  # failures of these kinds only


def _project_events(project_id: int, where: ProjectEventFilter) -> Select[Any]:
    """The filtered events as a query to page or count: every one a range of the
    ``(project_id, at)`` index, or of ``(message_id, id)`` for one message."""
    query = (
        select(events, copies.c.recipient_kind, observations.c.ip)
        .outerjoin(copies, copies.c.id == events.c.copy_id)
        .outerjoin(observations, observations.c.id == events.c.observation_id)
        .where(
            events.c.project_id == project_id,
            events.c.type.in_(sorted(where.types)),
            events.c.at >= where.since,
            events.c.at <= where.until,
        )
    )
    if where.message_id is not None:
        query = query.where(events.c.message_id == where.message_id)
    if where.recipients:
        to_one = func.lower(events.c.recipient).in_(where.recipients)
        other = copies.alias("addressed")  # not the outer query's (the event's own) copy
        shared = exists().where(
            other.c.message_id == events.c.message_id,
            func.lower(other.c.recipient).in_(where.recipients),
        )
        query = query.where(or_(to_one, and_(events.c.copy_id.is_(None), shared)))
    if where.permanent is not None:
        permanent = func.coalesce(events.c.data["permanent"].as_boolean(), false())
        query = query.where(permanent.in_(sorted(where.permanent)))
    return query


def project_events(
    conn: Connection,
    project_id: int,
    where: ProjectEventFilter,
    *,
    start: tuple[datetime, int] | None,
    limit: int,
) -> list[EventView]:
    """Newest first (by time, then id); ``start`` is the ``(at, id)`` of the first event to
    give, inclusive (keyset pagination)."""
    query = _project_events(project_id, where)
    if start is not None:
        at, event_id = start
        query = query.where(
            events.c.at <= at,  # the bound below, as one the index range can use
            or_(events.c.at < at, and_(events.c.at == at, events.c.id <= event_id)),
        )
    rows = conn.execute(query.order_by(events.c.at.desc(), events.c.id.desc()).limit(limit))
    return [EventView(event_from_row(row), row.recipient_kind, row.ip) for row in rows]


def count_project_events(conn: Connection, project_id: int, where: ProjectEventFilter) -> int:
    """How many items :func:`project_events` pages through, a message-wide event counting
    once for each of its copies (to the recipients asked for), as it is listed."""
    found = _project_events(project_id, where).with_only_columns(
        events.c.id, events.c.message_id, events.c.copy_id
    )
    rows = found.subquery()
    each = copies.alias("each")
    on = and_(rows.c.copy_id.is_(None), each.c.message_id == rows.c.message_id)
    if where.recipients:
        on = and_(on, func.lower(each.c.recipient).in_(where.recipients))
    query = select(func.count()).select_from(rows.outerjoin(each, on))
    return int(conn.execute(query).scalar_one())


def created_events(conn: Connection, message_ids: Iterable[int]) -> dict[int, EventView]:
    """Each message's ``message.created`` event (message-wide: no copy, no address)."""
    wanted = set(message_ids)
    if not wanted:
        return {}
    query = select(events).where(
        events.c.message_id.in_(wanted), events.c.type == "message.created"
    )
    return {
        row.message_id: EventView(event_from_row(row), None, None) for row in conn.execute(query)
    }
