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

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, case, func, literal, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.visitors import iterate

from ..core.analytics.catalogue import COUNTS, LEVELS
from ..core.analytics.rollup import (
    DAILY,
    LEVEL_OF_TYPE,
    contributions,
    daily_facts,
    daily_values_of,
    message_type,
    value_key,
)
from ..core.events import Event
from .analytics import count_sql, dimension_sql, grain_sql
from .schema import (
    ANALYTICS_COUNTS,
    analytics_daily,
    analytics_hourly,
    analytics_values,
    events,
    messages,
    routes,
)

__all__ = ["Deltas", "add", "deltas", "rebuild"]

_TABLES = (analytics_hourly, analytics_daily, analytics_values)  # the counters, rebuilt together
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
    # events with the same keys, values and contributions are tallied first, then added: one
    # counter update per event, and the per-dimension work once per distinct combination
    # (a pass's events share their links, clients, classifications and days)
    combos: Counter[tuple[Any, ...]] = Counter()
    for event in found:
        fact = facts.get(event.message_id)
        if fact is None:
            continue
        route_id, kind, track_opens, track_clicks, tag = fact
        counted = contributions(event, track_opens, track_clicks)
        if not counted:
            continue
        stamp = int(event.at.timestamp())
        hour_of = (event.project_id, stamp // 3600, route_id, kind, counted, event.type)
        combos[(*hour_of, *daily_facts(event, tag))] += 1
    hours: Counter[tuple[HourKey, tuple[tuple[str, int], ...]]] = Counter()
    days: Counter[tuple[DayKey, tuple[tuple[str, int], ...]]] = Counter()
    for combo, times in combos.items():
        project_id, hour, route_id, kind, counted, event_type = combo[:6]
        hours[((project_id, hour, route_id, kind), counted)] += times
        day = hour // 24
        for dimension, value in daily_values_of(event_type, combo[6:]):
            day_key = (project_id, dimension, day, value_key(value))
            made.values[day_key] = value
            days[(day_key, counted)] += times
    for (hour_key, counted), times in hours.items():
        into = made.hourly[hour_key]
        for name, amount in counted:
            into[name] += amount * times
    for (keyed, counted), times in days.items():
        into = made.daily[keyed]
        for name, amount in counted:
            into[name] += amount * times
    return made


def add(conn: Connection, found: Deltas) -> None:
    hourly = [
        ({"project_id": p, "hour": h, "route_id": r, "message_type": t}, counts)
        for (p, h, r, t), counts in found.hourly.items()
    ]
    _upsert(conn, analytics_hourly, ["project_id", "hour", "route_id", "message_type"], hourly)
    daily = [
        (
            {
                "project_id": p,
                "dimension": d,
                "day": day,
                "value_key": k,
                "value": found.values[(p, d, day, k)],
            },
            counts,
        )
        for (p, d, day, k), counts in found.daily.items()
    ]
    _upsert(conn, analytics_daily, ["project_id", "dimension", "day", "value_key"], daily)
    # each value's totals and span, from the same increments (store/analytics_top.py)
    spans: dict[tuple[int, str, str], tuple[int, int, Counter[str]]] = {}
    for (p, d, day, k), counts in found.daily.items():
        first, last, summed = spans.get((p, d, k), (day, day, Counter()))
        summed.update(counts)
        spans[(p, d, k)] = (min(first, day), max(last, day), summed)
    totals = [
        (
            {
                "project_id": p,
                "dimension": d,
                "value_key": k,
                "value": found.values[(p, d, first, k)],
                "first_day": first,
                "last_day": last,
            },
            summed,
        )
        # in key order: concurrent writers (PostgreSQL) lock the rows in the same order
        for (p, d, k), (first, last, summed) in sorted(spans.items())
    ]
    _upsert(conn, analytics_values, ["project_id", "dimension", "value_key"], totals)


def _upsert(
    conn: Connection,
    table: Table,
    key: list[str],
    rows: list[tuple[dict[str, Any], Counter[str]]],
) -> None:
    """Insert the rows, or add their counts to the rows already there: one executemany per
    set of counters a row moves (a handful: an event moves a few of the ~30), so each row
    binds its key and those counters only."""
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[Any, ...]]]
    shapes = defaultdict(list)  # (the columns named, the counters moved) -> rows
    for keyed, counts in rows:
        names = tuple(sorted(counts))
        shapes[(tuple(keyed), names)].append((*keyed.values(), *(counts[n] for n in names)))
    for (named, moved), params in shapes.items():
        statement = _upsert_sql(conn.dialect, table.name, tuple(key), named, moved)
        conn.exec_driver_sql(statement, params)


@functools.lru_cache(maxsize=512)
def _upsert_sql(
    dialect: Dialect,
    name: str,
    key: tuple[str, ...],
    named: tuple[str, ...],
    moved: tuple[str, ...],
) -> str:
    """Written once per shape and run with the driver's own executemany: through SQLAlchemy
    every row also bound the Python default (0) of each counter it does not move, ~30
    parameters, each processed in Python; those columns take their server default, 0, here."""
    quote = dialect.identifier_preparer.quote
    marker = "%s" if dialect.name == "postgresql" else "?"
    table = quote(name)
    columns = (*named, *moved)
    sets = [f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in moved]
    if name == analytics_values.name:  # a value's span grows, never shrinks
        least, greatest = ("least", "greatest") if dialect.name == "postgresql" else ("min", "max")
        sets += [
            f"first_day = {least}({table}.first_day, excluded.first_day)",
            f"last_day = {greatest}({table}.last_day, excluded.last_day)",
        ]
    added = ", ".join(sets)
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {added}"
    )


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


def rebuild(conn: Connection, project_ids: Sequence[int] | None = None) -> None:
    """Recompute the counter tables from the events, in SQL (store/analytics.py's exact
    path, grouped by each table's key): for data generated in bulk (bench/analytics) and for
    events recorded before the counters existed. Unique counts need ``events.firsts``, which
    only events promoted since migration 0008 carry."""
    dialect = conn.dialect.name
    where = [] if project_ids is None else [events.c.project_id.in_(list(project_ids))]
    if dialect == "postgresql":
        # Writers recording events meanwhile wait for the rebuild (EXCLUSIVE conflicts with
        # their upserts' ROW EXCLUSIVE, and waits for those in flight to commit): each
        # transaction's increments then land either in what is deleted here and recounted
        # from its committed events, or after the recount, never in both or neither.
        # (SQLite has one writer at a time already.)
        names = ", ".join(table.name for table in _TABLES)
        conn.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
    for table in _TABLES:
        purge = table.delete()
        if project_ids is not None:
            purge = purge.where(table.c.project_id.in_(list(project_ids)))
        conn.execute(purge)
    sums = [_sum(name) for name in ANALYTICS_COUNTS]
    joined = events.join(messages, messages.c.id == events.c.message_id).outerjoin(
        routes, routes.c.id == messages.c.route_id
    )
    hour = grain_sql(3600, dialect)
    route = func.coalesce(messages.c.route_id, 0)
    kind = dimension_sql("message_type", dialect)
    hourly = (
        select(events.c.project_id, hour, route, kind, *sums)
        .select_from(joined)
        .where(*where)
        .group_by(events.c.project_id, hour, route, kind)
    )
    columns = ["project_id", "hour", "route_id", "message_type", *ANALYTICS_COUNTS]
    conn.execute(analytics_hourly.insert().from_select(columns, hourly))
    day = grain_sql(86400, dialect)
    for dimension, level in DAILY.items():
        value = dimension_sql(dimension, dialect)
        types = [t for t, at in LEVEL_OF_TYPE.items() if LEVELS.index(at) >= LEVELS.index(level)]
        # Only the counts of these event types: the others are zero here (their column's
        # default), and a pass of opens and clicks needs the messages for none of its counts,
        # so it reads the events alone (7 of the 9 passes; a third of the rebuild's time at 10
        # million events went into joining every event to its message, for every dimension).
        counted = [name for name in ANALYTICS_COUNTS if set(COUNTS[name].types) & set(types)]
        flags = any(COUNTS[name].message_flag for name in counted)
        source = joined if flags or _reads_messages(value) else events
        key = func.coalesce(func.md5(value), "")
        daily = (
            select(
                events.c.project_id,
                literal(dimension),
                day,
                key,
                value,
                *(_sum(name) for name in counted),
            )
            .select_from(source)
            .where(*where, events.c.type.in_(types))
            .group_by(events.c.project_id, day, value)
        )
        columns = ["project_id", "dimension", "day", "value_key", "value", *counted]
        conn.execute(analytics_daily.insert().from_select(columns, daily))
    # each value's totals: the sums of its daily rows (max(value): a key's rows hold one value)
    daily_of = analytics_daily.c
    totals = (
        select(
            daily_of.project_id,
            daily_of.dimension,
            daily_of.value_key,
            func.max(daily_of.value),
            func.min(daily_of.day),
            func.max(daily_of.day),
            *(func.sum(daily_of[name]) for name in ANALYTICS_COUNTS),
        )
        .where(*([] if project_ids is None else [daily_of.project_id.in_(list(project_ids))]))
        .group_by(daily_of.project_id, daily_of.dimension, daily_of.value_key)
    )
    columns = ["project_id", "dimension", "value_key", "value", "first_day", "last_day"]
    conn.execute(analytics_values.insert().from_select([*columns, *ANALYTICS_COUNTS], totals))


def _reads_messages(expression: Any) -> bool:
    """Whether a dimension's SQL reads a column of ``messages`` (the tag does)."""
    return any(getattr(element, "table", None) is messages for element in iterate(expression))


def _sum(name: str) -> Any:
    predicate, weight = count_sql(COUNTS[name])
    return func.coalesce(func.sum(case((predicate, weight), else_=0)), 0)
