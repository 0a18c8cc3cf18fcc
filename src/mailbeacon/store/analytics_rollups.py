"""The hourly analytics counters (``analytics_hourly``): added to as events are recorded.

:func:`hourly_deltas` turns a batch of events into increments per (project, hour, route,
message type), judged by core/analytics/rollup.py from the catalogue; :func:`add` writes
them with one upsert per key, so concurrent writers (several workers on PostgreSQL) never
lose an increment. service/events.py calls both inside the events' transaction: a counter
and its event are committed together or not at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core.analytics.rollup import contributions, message_type
from ..core.events import Event
from .schema import ANALYTICS_COUNTS, analytics_hourly, messages, routes

__all__ = ["HourKey", "add", "hourly_deltas"]

HourKey = tuple[int, int, int, str]  # project id, Unix hour, route id (0: none), message type


def hourly_deltas(conn: Connection, found: Sequence[Event]) -> dict[HourKey, Counter[str]]:
    """The increments ``found`` make (one query for their messages' facts)."""
    if not found:
        return {}
    facts = _message_facts(conn, {event.message_id for event in found})
    deltas: dict[HourKey, Counter[str]] = defaultdict(Counter)
    for event in found:
        fact = facts.get(event.message_id)
        if fact is None:
            continue
        route_id, kind, track_opens, track_clicks = fact
        hour = int(event.at.timestamp()) // 3600
        key = (event.project_id, hour, route_id, kind)
        for name, amount in contributions(event, track_opens, track_clicks):
            deltas[key][name] += amount
    return deltas


def add(conn: Connection, deltas: dict[HourKey, Counter[str]]) -> None:
    insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    for (project_id, hour, route_id, kind), counts in deltas.items():
        values = {name: counts.get(name, 0) for name in ANALYTICS_COUNTS}
        statement = insert(analytics_hourly).values(
            project_id=project_id, hour=hour, route_id=route_id, message_type=kind, **values
        )
        changed = {
            name: analytics_hourly.c[name] + statement.excluded[name]
            for name, delta in values.items()
            if delta
        }
        if changed:
            statement = statement.on_conflict_do_update(
                index_elements=["project_id", "hour", "route_id", "message_type"], set_=changed
            )
        else:
            statement = statement.on_conflict_do_nothing()
        conn.execute(statement)


def _message_facts(
    conn: Connection, message_ids: set[int]
) -> dict[int, tuple[int, str, bool, bool]]:
    query = (
        select(
            messages.c.id,
            messages.c.route_id,
            routes.c.route_type,
            messages.c.transactional,
            messages.c.track_opens,
            messages.c.track_clicks,
        )
        .select_from(messages.outerjoin(routes, routes.c.id == messages.c.route_id))
        .where(messages.c.id.in_(message_ids))
    )
    return {
        row[0]: (row[1] or 0, message_type(row[2], row[3]), bool(row[4]), bool(row[5]))
        for row in conn.execute(query)
    }
