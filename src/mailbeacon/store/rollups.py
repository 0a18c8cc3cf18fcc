"""Daily counters (``stats_daily``), added to as events are written.

Counters are keyed by project, route, tag and UTC day; writers add deltas with an upsert, so
concurrent writers (several workers on PostgreSQL) never lose an increment, and reading the
statistics never scans events. Reading sums in SQL over an index range of days.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .schema import stats_daily

__all__ = ["COUNTERS", "Key", "add", "read"]

COUNTERS = (
    "sent",
    "failed",
    "opened",
    "unique_opened",
    "clicked",
    "unique_clicked",
    "effective_opened",
    "human_opened",
    "privacy_opened",
    "machine_opened",
    "machine_clicked",
    "unique_any_opened",
    "unique_any_clicked",
    "hard_bounced",
    "soft_bounced",
    "suppressed",
    "unsubscribed",
)
Key = tuple[int, int, str, str]  # project id, route id (0: none), tag ("": none), day


def key(project_id: int, route_id: int | None, tag: str | None, day: date) -> Key:
    return (project_id, route_id or 0, tag or "", day.isoformat())


class Deltas:
    """Increments gathered in memory, written by :func:`add` in one upsert per key."""

    def __init__(self) -> None:
        self.by_key: dict[Key, Counter[str]] = defaultdict(Counter)

    def bump(self, at: Key, **counts: int) -> None:
        self.by_key[at].update(counts)


def add(conn: Connection, deltas: Deltas) -> None:
    if not deltas.by_key:
        return
    insert: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    for (project_id, route_id, tag, day), counts in deltas.by_key.items():
        values = {name: counts.get(name, 0) for name in COUNTERS}
        statement = insert(stats_daily).values(
            project_id=project_id, route_id=route_id, tag=tag, day=day, **values
        )
        statement = statement.on_conflict_do_update(
            index_elements=["project_id", "route_id", "tag", "day"],
            set_={
                name: getattr(stats_daily.c, name) + getattr(statement.excluded, name)
                for name, delta in values.items()
                if delta
            },
        )
        conn.execute(statement)


def read(
    conn: Connection,
    project_ids: Iterable[int],
    first_day: date,
    last_day: date,
    *,
    route_id: int | None = None,
    tag: str | None = None,
) -> dict[str, Mapping[str, int]]:
    """Counters per day (YYYY-MM-DD) summed over the matching keys, in SQL: a day range is
    an index range ((project_id, day), or (project_id, tag, day) for one tag), so the answer
    costs the matching rows, never a row per tag in Python."""
    query = (
        select(
            stats_daily.c.day,
            *(func.sum(getattr(stats_daily.c, name)).label(name) for name in COUNTERS),
        )
        .where(
            stats_daily.c.project_id.in_(list(project_ids)),
            stats_daily.c.day >= first_day.isoformat(),
            stats_daily.c.day <= last_day.isoformat(),
        )
        .group_by(stats_daily.c.day)
    )
    if route_id is not None:
        query = query.where(stats_daily.c.route_id == route_id)
    if tag is not None:
        query = query.where(stats_daily.c.tag == tag)
    return {
        row.day: {name: int(getattr(row, name) or 0) for name in COUNTERS}
        for row in conn.execute(query)
    }
