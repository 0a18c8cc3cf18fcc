"""The analytics counters, added to as events are recorded: hourly per (project, route,
message type) (``analytics_hourly``), and daily per value of one dimension (tag, link,
recipient domain, ...: ``analytics_daily``).

:func:`deltas` turns a batch of events into increments, judged by core/analytics/rollup.py
from the catalogue; :func:`add` writes them, one upsert per table and batch (an
executemany), so concurrent writers (several workers on PostgreSQL) never lose an increment.
service/events.py calls both inside the events' transaction: a counter and its event are
committed together or not at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core.analytics.rollup import contributions, daily_values, message_type, value_key
from ..core.events import Event
from .schema import ANALYTICS_COUNTS, analytics_daily, analytics_hourly, messages, routes

__all__ = ["Deltas", "add", "deltas"]

HourKey = tuple[int, int, int, str]  # project id, Unix hour, route id (0: none), message type
DayKey = tuple[int, str, int, str]  # project id, dimension, Unix day, value key


@dataclass
class Deltas:
    hourly: dict[HourKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    daily: dict[DayKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    values: dict[DayKey, str | None] = field(default_factory=dict)


def deltas(conn: Connection, found: Sequence[Event]) -> Deltas:
    """The increments ``found`` make (one query for their messages' facts)."""
    made = Deltas()
    if not found:
        return made
    facts = _message_facts(conn, {event.message_id for event in found})
    for event in found:
        fact = facts.get(event.message_id)
        if fact is None:
            continue
        route_id, kind, track_opens, track_clicks, tag = fact
        counted = list(contributions(event, track_opens, track_clicks))
        if not counted:
            continue
        stamp = int(event.at.timestamp())
        hourly = made.hourly[(event.project_id, stamp // 3600, route_id, kind)]
        for name, amount in counted:
            hourly[name] += amount
        day = stamp // 86400
        for dimension, value in daily_values(event, tag):
            key = (event.project_id, dimension, day, value_key(value))
            made.values[key] = value
            daily = made.daily[key]
            for name, amount in counted:
                daily[name] += amount
    return made


def add(conn: Connection, found: Deltas) -> None:
    hourly = [
        {"project_id": p, "hour": h, "route_id": r, "message_type": t, **_all(counts)}
        for (p, h, r, t), counts in found.hourly.items()
    ]
    _upsert(conn, analytics_hourly, ["project_id", "hour", "route_id", "message_type"], hourly)
    daily = [
        {
            "project_id": p,
            "dimension": d,
            "day": day,
            "value_key": k,
            "value": found.values[(p, d, day, k)],
            **_all(counts),
        }
        for (p, d, day, k), counts in found.daily.items()
    ]
    _upsert(conn, analytics_daily, ["project_id", "dimension", "day", "value_key"], daily)


def _all(counts: Counter[str]) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in ANALYTICS_COUNTS}


def _upsert(conn: Connection, table: Table, key: list[str], rows: list[dict[str, Any]]) -> None:
    """Insert the rows, or add their counts to the rows already there: one executemany."""
    if not rows:
        return
    insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=key,
        set_={name: table.c[name] + statement.excluded[name] for name in ANALYTICS_COUNTS},
    )
    conn.execute(statement, rows)


def _message_facts(
    conn: Connection, message_ids: set[int]
) -> dict[int, tuple[int, str, bool, bool, str | None]]:
    query = (
        select(
            messages.c.id,
            messages.c.route_id,
            routes.c.route_type,
            messages.c.transactional,
            messages.c.track_opens,
            messages.c.track_clicks,
            messages.c.tag,
        )
        .select_from(messages.outerjoin(routes, routes.c.id == messages.c.route_id))
        .where(messages.c.id.in_(message_ids))
    )
    return {
        row[0]: (row[1] or 0, message_type(row[2], row[3]), bool(row[4]), bool(row[5]), row[6])
        for row in conn.execute(query)
    }
