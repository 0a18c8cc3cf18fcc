"""Events in the database: written in bulk, read back as :class:`~mailbeacon.core.events.Event`.

Only service/events.py writes them (with their webhook deliveries and counters, in one
transaction); the APIs read them here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from ..core.events import Event
from .schema import events

__all__ = ["event_from_row", "insert_many", "list_events"]

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
_AT = _COLUMNS.index("at")
_JSON = tuple(_COLUMNS.index(name) for name in ("reason_codes", "details", "data"))
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
    params = []
    for event in found:
        values: list[Any] = list(event[:-1])
        for index in _JSON:
            if values[index] is not None:
                values[index] = _json(values[index], encoded)
        moment: datetime = values[_AT]
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        moment = moment.replace(tzinfo=None)
        # SQLAlchemy's SQLite format, always with microseconds; strftime costs three times more
        values[_AT] = moment.isoformat(" ", "microseconds") if sqlite else moment
        params.append(tuple(values))
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
