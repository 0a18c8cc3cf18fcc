"""A breakdown's best groups by one counter, read from each value's totals with a stopping
rule (analytics_values, kept beside the daily counters by store/analytics_rollups.py).

Summing the daily counters of every value in the window and sorting them costs the window's
rows: seconds when a tag per message puts a million values in 90 days. But a value's all-time
total of a counter bounds its sum over any window (counters only grow), and equals it when
the value's days (``first_day`` .. ``last_day``) lie inside the window. So the values are
walked by total, highest first, through an index; a value inside the window takes its total,
one that crosses the window's edges sums its own days in it (an index range of that value),
one outside is skipped; and the walk stops as soon as the next value's total ranks below the
N-th window sum found: nothing after it can enter the first N. Ties rank by the value key,
descending (the index's order read backwards), as the daily counters' full sort does
(store/analytics.py), so both give the same page.

What a walk reads depends on the data, not on the number of values: the first N values and
those whose totals exceed the N-th window sum (values strong before the window and weak in
it). How many groups the window holds is counted up to a cap only (the ranking's limit),
through the values' last days.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from sqlalchemy import Connection, func, literal, or_, select, tuple_

from .schema import (
    DAILY_BY_VALUE,
    RANKING_INDEXES,
    VALUES_BY_LAST_DAY,
    analytics_daily,
    analytics_values,
)

__all__ = ["count_groups", "top"]

_FIRST_BATCH = 64
_MOST_BATCH = 4096


def top(
    conn: Connection,
    project_id: int,
    dimension: str,
    counter: str,
    days: tuple[int, int],
    *,
    limit: int,
    offset: int = 0,
) -> list[str]:
    """The value keys of the page ``offset`` .. ``offset + limit`` of the dimension's values
    ranked by their sum of ``counter`` over ``days`` (first day, day after the last), highest
    first, ties by value key descending; only values with a counter row in the window."""
    index = RANKING_INDEXES.get(counter)
    if index is None:
        raise ValueError(f"{counter} has no ranking index")
    want = offset + limit
    if want <= 0:
        return []
    start, end = days
    values = analytics_values.c
    column = values[counter]
    # the best (window sum, key) pairs found so far, ascending: best[-want] is the N-th
    best: list[tuple[int, str]] = []

    def found(pair: tuple[int, str]) -> None:
        bisect.insort(best, pair)
        if len(best) > want:
            del best[0]

    after: tuple[int, str] | None = None
    size = max(_FIRST_BATCH, 2 * want)
    while True:
        query = (
            select(column, values.value_key, values.first_day, values.last_day)
            .where(values.project_id == project_id, values.dimension == dimension)
            .order_by(column.desc(), values.value_key.desc())
            .limit(size)
            .with_hint(analytics_values, f"INDEXED BY {index}", "sqlite")
        )
        if after is not None:
            query = query.where(tuple_(column, values.value_key) < tuple_(*after))
        rows = conn.execute(query).all()
        crossing: list[str] = []
        stop = False
        for total, key, first, last in rows:
            if len(best) >= want and (total, key) < best[-want]:
                # every later value's total ranks below the N-th window sum: so does its sum
                stop = True
                break
            if last < start or first >= end:
                continue  # no day in the window
            if start <= first and last < end:
                found((total, key))
            else:
                crossing.append(key)
        for pair in _window_sums(conn, project_id, dimension, counter, days, crossing):
            found(pair)
        if stop or len(rows) < size:
            break
        after = (rows[-1][0], rows[-1][1])
        size = min(size * 2, _MOST_BATCH)
    ranked = [key for _, key in reversed(best)]
    return ranked[offset:want]


def _window_sums(
    conn: Connection,
    project_id: int,
    dimension: str,
    counter: str,
    days: tuple[int, int],
    keys: Sequence[str],
) -> list[tuple[int, str]]:
    """The window sums of values that cross its edges, from their own days (the index on
    the daily counters' value key and day); a value with no row inside is left out."""
    if not keys:
        return []
    daily = analytics_daily.c
    found = conn.execute(
        select(func.sum(daily[counter]), daily.value_key)
        .where(
            daily.project_id == project_id,
            daily.dimension == dimension,
            daily.value_key.in_(list(keys)),
            daily.day >= days[0],
            daily.day < days[1],
        )
        .group_by(daily.value_key)
        .with_hint(analytics_daily, f"INDEXED BY {DAILY_BY_VALUE}", "sqlite")
    ).all()
    return [(int(total), key) for total, key in found]


def count_groups(
    conn: Connection, project_id: int, dimension: str, days: tuple[int, int], *, cap: int
) -> int:
    """How many values have a row in the window, counted up to ``cap``: those whose last day
    is in or after it, first day before its end, and, for the few that span it, a row in it."""
    start, end = days
    values = analytics_values.c
    daily = analytics_daily.c
    has_row = (
        select(literal(1))
        .where(
            daily.project_id == values.project_id,
            daily.dimension == values.dimension,
            daily.value_key == values.value_key,
            daily.day >= start,
            daily.day < end,
        )
        .with_hint(analytics_daily, f"INDEXED BY {DAILY_BY_VALUE}", "sqlite")
        .exists()
    )
    inside = (
        select(values.value_key)
        .where(
            values.project_id == project_id,
            values.dimension == dimension,
            values.last_day >= start,
            values.first_day < end,
            or_(values.first_day >= start, values.last_day < end, has_row),
        )
        .limit(cap)
        .with_hint(analytics_values, f"INDEXED BY {VALUES_BY_LAST_DAY}", "sqlite")
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(inside)).scalar_one())
