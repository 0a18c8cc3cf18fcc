"""The ranking from each value's totals (store/analytics_top.py) gives the page a full sort
of the daily counters gives, on random values whose days fall inside, across and outside the
window, ties included; and it stops reading early: a top 10 among thousands of values reads
one batch of totals, not every value."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from mailbeacon.core.analytics.rollup import value_key
from mailbeacon.store import analytics_rollups, tenancy
from mailbeacon.store.analytics import Period, Selection, count
from mailbeacon.store.analytics_rollups import Deltas
from mailbeacon.store.analytics_top import count_groups, top
from mailbeacon.store.db import Database
from mailbeacon.store.schema import RANKED_COUNTS, analytics_daily, analytics_values
from tests.conftest import START

DIMENSION = "link"


def _project(db: Database) -> int:
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Top", START)
        project, _ = tenancy.create_project(conn, team.id, "Top", START)
    return project.id


def _add(db: Database, project_id: int, rows: list[tuple[int, str, dict[str, int]]]) -> None:
    """Daily increments (day, value, counts) through the writer, in batches, as the
    promoter adds them: the totals are the writer's, not the test's."""
    for start in range(0, len(rows), 200):
        made = Deltas()
        for day, value, counts in rows[start : start + 200]:
            key = (project_id, DIMENSION, day, value_key(value))
            made.daily[key].update(counts)
            made.values[key] = value
        with db.write() as conn:
            analytics_rollups.add(conn, made)


def _expected(conn: Connection, project_id: int, counter: str, days: tuple[int, int]) -> list[str]:
    """Every value with a row in the window, by its window sum descending, ties by key
    descending: the daily counters read and sorted in Python."""
    sums: Counter[str] = Counter()
    for key, amount in conn.execute(
        select(analytics_daily.c.value_key, analytics_daily.c[counter]).where(
            analytics_daily.c.project_id == project_id,
            analytics_daily.c.dimension == DIMENSION,
            analytics_daily.c.day >= days[0],
            analytics_daily.c.day < days[1],
        )
    ):
        sums[key] += amount
    return [key for _, key in sorted(((s, k) for k, s in sums.items()), reverse=True)]


@pytest.mark.parametrize("seed", [5, 6])
def test_the_walk_gives_the_full_sorts_page(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    project_id = _project(db)
    rows: list[tuple[int, str, dict[str, int]]] = []
    for v in range(300):
        value = f"https://shop.example/{v}"
        first = rng.randint(0, 60)
        span = range(first, first + rng.randint(6, 30))
        for day in sorted(rng.sample(span, rng.randint(1, 6))):
            # small counts: many ties, zeros too (a row that moved another counter)
            counts = {name: rng.choice([0, 0, 1, 2, 3, 5]) for name in RANKED_COUNTS}
            counts["machine_clicks_events"] = 1
            rows.append((day, value, counts))
    rng.shuffle(rows)
    _add(db, project_id, rows)
    with db.read() as conn:
        for _ in range(40):
            start = rng.randint(-5, 70)
            days = (start, start + rng.randint(1, 40))
            counter = rng.choice(RANKED_COUNTS)
            expected = _expected(conn, project_id, counter, days)
            limit, offset = rng.choice([1, 5, 10, 50]), rng.choice([0, 0, 3, 20])
            found = top(conn, project_id, DIMENSION, counter, days, limit=limit, offset=offset)
            assert found == expected[offset : offset + limit], (days, counter)
            for cap in (3, 10_001):
                assert count_groups(conn, project_id, DIMENSION, days, cap=cap) == min(
                    len(expected), cap
                )


def test_the_totals_are_the_sums_of_the_daily_rows(db: Database) -> None:
    project_id = _project(db)
    _add(
        db,
        project_id,
        [
            (9, "a", {"human_clicks": 2}),
            (4, "a", {"human_clicks": 1}),
            (6, "b", {"delivered": 1}),
            (7, "a", {"human_clicks": 4, "human_clicks_events": 1}),
        ],
    )
    with db.read() as conn:
        found = {
            row.value: (row.first_day, row.last_day, row.human_clicks, row.human_clicks_events)
            for row in conn.execute(select(analytics_values))
        }
    assert found == {"a": (4, 9, 7, 1), "b": (6, 6, 0, 0)}


@pytest.fixture
def selects(db: Database) -> Iterator[list[str]]:
    """The statements that read the values' totals."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "analytics_values" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    yield seen
    event.remove(db.engine, "before_cursor_execute", note)


@pytest.mark.parametrize("tied", [False, True])
def test_a_top_ten_among_thousands_reads_one_batch(
    db: Database, selects: list[str], tied: bool
) -> None:
    project_id = _project(db)
    rows = [
        (v % 30, f"https://shop.example/{v}", {"human_clicks": 1 if tied else v + 1})
        for v in range(3_000)
    ]
    _add(db, project_id, rows)
    with db.read() as conn:
        expected = _expected(conn, project_id, "human_clicks", (0, 30))
        selects.clear()
        found = top(conn, project_id, DIMENSION, "human_clicks", (0, 30), limit=10)
    assert found == expected[:10]
    assert len(selects) == 1  # a walk over every value takes six batches or more


def test_sqlite_reads_the_counters_through_the_indexes_named(sqlite_url: str) -> None:
    """SQLite plans without statistics (nothing runs ANALYZE) and, left to itself, read a
    walked page's counts through the window's range of the primary key: every value's rows.
    Each statement of a ranked breakdown is planned here as it ran."""
    db = Database(sqlite_url)
    try:
        project_id = _project(db)
        _add(db, project_id, [(d, f"v{v}", {"human_clicks": v}) for v in range(40) for d in (1, 2)])
        ran: list[tuple[str, Any]] = []

        def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "analytics_" in statement and statement.lstrip().upper().startswith("SELECT"):
                ran.append((statement, parameters))

        selection = Selection([project_id], ["human_clicks"], [], [_days(1, 3)])
        event.listen(db.engine, "before_cursor_execute", note)
        with db.read() as conn:
            found, total = count(
                conn, selection, group_by=[DIMENSION], order=("human_clicks", True), limit=5
            )
            event.remove(db.engine, "before_cursor_execute", note)
            assert [row.dimensions[0] for row in found] == [f"v{v}" for v in range(39, 34, -1)]
            assert total == 40
            plans = [
                " / ".join(
                    step[-1] for step in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
                )
                for sql, params in ran
            ]
        assert len(plans) >= 3  # the walk, the count, the page's counts
        for plan in plans:
            for step in plan.split(" / "):
                if "analytics_" in step and "SCAN" not in step.split()[0:1]:
                    assert "INDEX ix_analytics_" in step, plan
    finally:
        db.dispose()


def _days(first: int, end: int) -> Period:
    return Period(
        datetime.fromtimestamp(first * 86400, UTC), datetime.fromtimestamp(end * 86400, UTC)
    )
