"""Events: what happened to a message, the engagement ones with their verdicts."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, select

from .ids import new_id
from .schema import events

__all__ = ["EventRecord", "NewEvent", "insert_event", "list_events"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    project_id: int
    message_id: int
    type: str
    at: datetime
    copy_id: int | None = None
    observation_id: int | None = None
    recipient: str | None = None
    link_index: int | None = None
    url: str | None = None
    anchor_text: str | None = None
    first: bool | None = None
    classification: str | None = None
    probability: int | None = None
    proxy_type: str | None = None
    family: str | None = None
    reason_codes: list[str] | None = None
    details: list[str] | None = None
    machine: bool | None = None
    counts_for_metrics: bool | None = None
    device_type: str | None = None
    client_type: str | None = None
    client_name: str | None = None
    user_agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRecord(NewEvent):
    id: int = 0
    public_id: str = ""


def insert_event(conn: Connection, event: NewEvent) -> str:
    public_id = new_id()
    values = {name: getattr(event, name) for name in NewEvent.__dataclass_fields__}
    conn.execute(events.insert().values(public_id=public_id, **values))
    return public_id


def _record(row: Row[Any]) -> EventRecord:
    values = {name: getattr(row, name) for name in NewEvent.__dataclass_fields__}
    return EventRecord(id=row.id, public_id=row.public_id, **values)


def list_events(
    conn: Connection,
    message_id: int,
    *,
    include_machine: bool,
    after_id: int | None = None,
    limit: int = 100,
) -> list[EventRecord]:
    """Oldest first. Machine engagement events only when asked for (labels, not drops: they
    are stored either way)."""
    query = select(events).where(events.c.message_id == message_id)
    if not include_machine:
        query = query.where(events.c.machine.is_not(True))
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    rows = conn.execute(query.order_by(events.c.id).limit(limit))
    return [_record(row) for row in rows]


def has_countable(conn: Connection, copy_id: int, event_type: str) -> bool:
    """Whether this recipient already has a human-countable event of this type."""
    query = select(
        exists().where(
            and_(
                events.c.copy_id == copy_id,
                events.c.type == event_type,
                events.c.counts_for_metrics.is_(True),
            )
        )
    )
    return bool(conn.execute(query).scalar())


_COLUMNS = ("public_id", *NewEvent.__dataclass_fields__)
_JSON = frozenset({"reason_codes", "details", "data"})


def insert_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert event rows (dicts of every column; JSON columns may hold tuples, written as
    arrays) in one executemany, converting values directly: SQLAlchemy's per-value type
    processing cost more than the promoter's judging. Produces exactly what the typed columns
    would store (the tests read the rows back)."""
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    marker = "?" if sqlite else "%s"
    sql = (
        f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join([marker] * len(_COLUMNS))})"
    )
    columns = operator.itemgetter(*_COLUMNS)
    at_index = _COLUMNS.index("at")
    json_indexes = [i for i, name in enumerate(_COLUMNS) if name in _JSON]
    encoded: dict[Any, str] = {}  # a batch repeats the same reason codes and details
    params = []
    for row in rows:
        try:
            values = list(columns(row))
        except KeyError:
            values = [row.get(name) for name in _COLUMNS]
        for index in json_indexes:
            if values[index] is not None:
                values[index] = _json(values[index], encoded)
        moment: datetime = values[at_index]
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        moment = moment.replace(tzinfo=None)
        # SQLAlchemy's SQLite format, always with microseconds; strftime costs three times more
        values[at_index] = moment.isoformat(" ", "microseconds") if sqlite else moment
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)


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
    elif isinstance(value, dict) and not value:
        return "{}"
    return json.dumps(value)
