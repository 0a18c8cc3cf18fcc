"""Analytics counts in SQL, generated from the catalogue (core/analytics/catalogue.py).

Every count is ``SUM(CASE WHEN <its predicate> THEN <weight> ELSE 0 END)`` over the events
of the window, joined to their messages (and routes, for ``message_type``), grouped by the
dimensions asked for and, for a time series, by a grain of time (whole UTC hours or
quarters, see core/analytics/window.py). The current and the previous period are counted
in the same scan, each count twice with the period in its predicate.

A breakdown is ranked, counted and paged in SQL (``ORDER BY ... LIMIT/OFFSET`` with
``COUNT(*) OVER ()``), so an answer costs the rows of one page, whatever the number of
groups. Dimension values come back as text; ``project_id`` and ``route_id`` as the internal
ids, which the caller turns into public ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from ..core.analytics.catalogue import COUNTS, TAG_PREFIX, Count
from ..core.analytics.classes import CLASSES
from .schema import events, messages, routes

__all__ = ["Period", "Selection", "Totals", "count"]

Value = str | int | None


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Selection:
    """What to count: the projects, the counts, the filters (project_id and route_id values
    as internal ids), the periods (the current one first)."""

    project_ids: Sequence[int]
    counts: Sequence[str]
    filters: Sequence[tuple[str, str, Sequence[Value]]]
    periods: Sequence[Period]


@dataclass(frozen=True, slots=True)
class Totals:
    """One group's counts: ``values[period][count]``, with its dimension values and grain."""

    dimensions: tuple[Value, ...]
    grain: int | None
    values: tuple[Mapping[str, int], ...]


def count(
    conn: Connection,
    selection: Selection,
    *,
    group_by: Sequence[str] = (),
    grain: int | None = None,
    order: tuple[str, bool] | None = None,
    rate: tuple[str, str] | None = None,
    limit: int | None = None,
    offset: int = 0,
    only: Sequence[tuple[Value, ...]] | None = None,
) -> tuple[list[Totals], int]:
    """The groups' counts, and how many groups there are. ``order`` (count, descending) or
    ``rate`` (numerator, denominator) ranks them, with ``limit`` and ``offset`` a page;
    ``only`` keeps the groups with these dimension values."""
    dialect = conn.dialect.name
    dims = [_dimension(name, dialect) for name in group_by]
    lo = min(p.start for p in selection.periods)
    hi = max(p.end for p in selection.periods)
    types = sorted({t for name in selection.counts for t in COUNTS[name].types})
    conditions: list[ColumnElement[bool]] = [
        events.c.project_id.in_(list(selection.project_ids)),
        events.c.type.in_(types),
        events.c.at >= lo,
        events.c.at < hi,
    ]
    conditions += [_filter(name, op, values, dialect) for name, op, values in selection.filters]
    if only is not None:
        conditions.append(
            or_(*(and_(*(_equals(d, v) for d, v in zip(dims, row, strict=True))) for row in only))
            if only
            else false()
        )
    sums = []
    for index, period in enumerate(selection.periods):
        inside = and_(events.c.at >= period.start, events.c.at < period.end)
        single = len(selection.periods) == 1
        for name in selection.counts:
            predicate, weight = _count(COUNTS[name])
            when = predicate if single else and_(inside, predicate)
            sums.append(
                func.coalesce(func.sum(case((when, weight), else_=0)), 0).label(f"c{index}_{name}")
            )
    keys = [d.label(f"d{i}") for i, d in enumerate(dims)]
    if grain is not None:
        keys.append(_grain(grain, dialect).label("grain"))
    query = select(*keys, *sums).select_from(_joined(group_by, selection)).where(*conditions)
    if keys:
        query = query.group_by(*keys)
    total_col = None
    if limit is not None:
        total_col = func.count().over().label("total_groups")
        query = query.add_columns(total_col)
        ranking = _ranking(selection, order, rate)
        query = query.order_by(*ranking, *(k.asc().nulls_first() for k in keys))
        query = query.limit(limit).offset(offset)
    rows = conn.execute(query).all()
    made = []
    total = 0
    periods = range(len(selection.periods))
    for row in rows:
        mapping = row._mapping
        made.append(
            Totals(
                tuple(mapping[f"d{i}"] for i in range(len(dims))),
                int(mapping["grain"]) if grain is not None else None,
                tuple(
                    {name: int(mapping[f"c{p}_{name}"]) for name in selection.counts}
                    for p in periods
                ),
            )
        )
        if total_col is not None:
            total = int(mapping["total_groups"])
    if total_col is None:
        total = len(made)
    return made, total


def _ranking(
    selection: Selection, order: tuple[str, bool] | None, rate: tuple[str, str] | None
) -> list[Any]:
    if rate is not None:
        numerator: Any = literal_column(f"c0_{rate[0]}")
        denominator: Any = literal_column(f"c0_{rate[1]}")
        value = numerator * 1.0 / func.nullif(denominator, 0)
        descending = order[1] if order else True
        return [(value.desc() if descending else value.asc()).nulls_last()]
    name, descending = order or (selection.counts[0], True)
    column: Any = literal_column(f"c0_{name}")
    return [column.desc() if descending else column.asc()]


def _joined(group_by: Sequence[str], selection: Selection) -> Any:
    joined = events.join(messages, messages.c.id == events.c.message_id)
    named = {*group_by, *(name for name, _, _ in selection.filters)}
    if "message_type" in named:
        joined = joined.outerjoin(routes, routes.c.id == messages.c.route_id)
    return joined


def _count(found: Count) -> tuple[ColumnElement[bool], Any]:
    """A count's predicate and what it adds per event."""
    parts: list[ColumnElement[bool]] = [
        events.c.type == found.types[0] if len(found.types) == 1 else events.c.type.in_(found.types)
    ]
    if found.classifications is not None:
        parts.append(events.c.classification.in_(sorted(found.classifications)))
    if found.first_bit:
        parts.append(events.c.firsts.op("&")(found.first_bit) != 0)
    if found.message_flag is not None:
        parts.append(messages.c[found.message_flag].is_(True))
    if found.permanent is not None:
        permanent = func.coalesce(events.c.data["permanent"].as_boolean(), False)
        parts.append(permanent.is_(found.permanent))
    weight: Any = literal(1)
    if found.weight_recipients:
        weight = func.coalesce(events.c.data["recipients"].as_integer(), 0)
    return and_(*parts), weight


def _grain(seconds: int, dialect: str) -> Any:
    if dialect == "sqlite":
        # "/" of two integers: SQLite's integer division (SQLAlchemy's would be a true one)
        return cast(func.strftime("%s", events.c.at), Integer).op("/")(seconds)
    return cast(func.floor(func.extract("epoch", events.c.at) / seconds), Integer)


def _dimension(name: str, dialect: str) -> Any:
    if name.startswith(TAG_PREFIX):
        return _tag_value(name[len(TAG_PREFIX) :], dialect)
    if name == "recipient_domain":
        domain: Any
        if dialect == "sqlite":
            domain = func.substr(events.c.recipient, func.instr(events.c.recipient, "@") + 1)
        else:
            domain = func.split_part(events.c.recipient, "@", 2)
        return func.lower(domain)
    if name == "message_type":
        kind = func.coalesce(
            routes.c.route_type,
            case((messages.c.transactional.is_(False), "broadcast"), else_="transactional"),
        )
        return case((kind == "broadcast", "broadcast"), else_="transactional")
    if name == "link_index":
        return cast(events.c.link_index, String)
    return _COLUMNS[name]


_COLUMNS: Mapping[str, Any] = {
    "project_id": events.c.project_id,
    "route_id": messages.c.route_id,
    "from_address": messages.c.from_email,
    "subject": messages.c.subject,
    "tag": messages.c.tag,
    "proxy_type": events.c.proxy_type,
    "classification": events.c.classification,
    "family": events.c.family,
    "client_name": events.c.client_name,
    "device_type": events.c.device_type,
    "link": events.c.url,
}


def _tag_value(tag_name: str, dialect: str) -> Any:
    """The value of the message's ``tags`` entry named ``tag_name`` (the first one), by a
    correlated subquery over the JSON array."""
    if dialect == "sqlite":
        entries = func.json_each(messages.c.tags).table_valued("value").alias("t")
        name: Any = func.json_extract(entries.c.value, "$.name")
        value: Any = func.json_extract(entries.c.value, "$.value")
    else:
        entries = func.json_array_elements(messages.c.tags).table_valued("value").alias("t")
        name = entries.c.value.op("->>")("name")
        value = entries.c.value.op("->>")("value")
    return select(value).select_from(entries).where(name == tag_name).limit(1).scalar_subquery()


def _filter(name: str, operator: str, values: Sequence[Value], dialect: str) -> Any:
    if name.startswith("is_"):
        return events.c.classification.in_(sorted(CLASSES[name[3:]]))
    column = _dimension(name, dialect)
    if operator == "is_null":
        return column.is_(None)
    if operator == "is_not_null":
        return column.is_not(None)
    if operator == "not_in":
        return or_(column.is_(None), column.not_in(list(values)))
    return column.in_(list(values)) if len(values) > 1 else column == values[0]


def _equals(column: Any, value: Value) -> Any:
    return column.is_(None) if value is None else column == value
