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
    null,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from ..core.analytics.catalogue import COUNTS, TAG_PREFIX, Count
from ..core.analytics.classes import CLASSES
from ..core.analytics.rollup import DAILY, value_key
from .analytics_top import count_groups, top
from .schema import (
    DAILY_BY_VALUE,
    RANKED_COUNTS,
    analytics_daily,
    analytics_hourly,
    events,
    messages,
    routes,
)

__all__ = [
    "RANKED_GROUP_LIMIT",
    "ROLLUP_DIMENSIONS",
    "Period",
    "Selection",
    "Totals",
    "count",
    "count_sql",
    "dimension_sql",
    "grain_sql",
    "source_for",
]

Value = str | int | None


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    cut: bool = False  # end is now, inside the window: nothing is recorded after it


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


ROLLUP_DIMENSIONS = frozenset({"project_id", "route_id", "message_type"})
RANKED_GROUP_LIMIT = 10_000  # rows a breakdown can be paged through, best first


def source_for(
    group_by: Sequence[str], filters: Sequence[str], grain: int | None, periods: Sequence[Period]
) -> str:
    """Which table can answer: "hourly" (its dimensions, whole hours), "daily" (one of its
    dimensions, grouped or filtered, whole UTC days) or "events" (anything)."""
    named = {*group_by, *filters} - {"project_id"}
    if named <= ROLLUP_DIMENSIONS and grain in (None, 3600, 86400):
        return "hourly"
    days = all(
        int(p.start.timestamp()) % 86400 == 0 and (p.cut or int(p.end.timestamp()) % 86400 == 0)
        for p in periods
    )
    if len(named) == 1 and named <= DAILY.keys() and grain in (None, 86400) and days:
        return "daily"
    return "events"


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
    exact: bool = False,
) -> tuple[list[Totals], int]:
    """The groups' counts, and how many groups there are. ``order`` (count, descending) or
    ``rate`` (numerator, denominator) ranks them, with ``limit`` and ``offset`` a page;
    ``only`` keeps the groups with these dimension values. From the hourly or the daily
    counters when they can answer (see :func:`source_for`), else (or with ``exact``) from the
    events."""
    filtered = [name for name, _, _ in selection.filters]
    kind = "events" if exact else source_for(group_by, filtered, grain, selection.periods)
    source: _Source
    if kind == "hourly":
        source = _Hourly()
    elif kind == "daily":
        source = _Daily(next(iter({*group_by, *filtered} - {"project_id"})))
    else:
        source = _Events(conn.dialect.name, group_by, filtered)
    dims = [source.dimension(name) for name in group_by]
    walked = None
    hashed = None  # the values of a daily breakdown by key (an index range each), if known
    if isinstance(source, _Daily) and list(group_by) == [source.name]:
        if limit is not None and only is None:
            walked = _walk(conn, source, selection, order, rate, limit, offset)
        if walked is not None:  # the page's values are known: their counts only, unranked
            hashed, limit = walked[0], None
        elif only is not None:
            hashed = [value_key(None if row[0] is None else str(row[0])) for row in only]
            only = None
    conditions = source.conditions(selection)
    if hashed is not None:
        conditions.append(analytics_daily.c.value_key.in_(hashed))
    conditions += [source.filter(name, op, values) for name, op, values in selection.filters]
    if only is not None:
        conditions.append(
            or_(*(and_(*(_equals(d, v) for d, v in zip(dims, row, strict=True))) for row in only))
            if only
            else false()
        )
    sums = []
    current: dict[str, Any] = {}  # the current period's sums, to rank by
    single = len(selection.periods) == 1
    for index, period in enumerate(selection.periods):
        inside = source.inside(period)
        for name in selection.counts:
            predicate, weight = source.count(name)
            if single and source.rolled_up:  # a counter column: its plain sum
                summed = func.coalesce(func.sum(weight), 0)
            else:
                when = predicate if single else and_(inside, predicate)
                summed = func.coalesce(func.sum(case((when, weight), else_=0)), 0)
            if index == 0:
                current[name] = summed
            sums.append(summed.label(f"c{index}_{name}"))
    keys = [d.label(f"d{i}") for i, d in enumerate(dims)]
    if grain is not None:
        keys.append(source.grain(grain).label("grain"))
    tie = source.tie(group_by)
    query = select(*keys, *sums).select_from(source.table).where(*conditions)
    if hashed is not None:  # each value's days, not the window's rows of every value
        query = query.with_hint(analytics_daily, f"INDEXED BY {DAILY_BY_VALUE}", "sqlite")
    if keys:
        query = query.group_by(*keys, *([] if tie is None else [tie]))
    if walked is not None:
        query = query.add_columns(analytics_daily.c.value_key.label("key"))
    total_col = None
    if limit is not None:
        total_col = func.count().over().label("total_groups")
        query = query.add_columns(total_col)
        ranking = _ranking(current, selection, order, rate)
        ties = [k.asc().nulls_first() for k in keys] if tie is None else [tie.desc()]
        query = query.order_by(*ranking, *ties)
        query = query.limit(limit).offset(offset)
    rows = list(conn.execute(query).all())
    if walked is not None:
        place = {key: index for index, key in enumerate(walked[0])}
        rows.sort(key=lambda row: place[row._mapping["key"]])
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
    if walked is not None:
        total = walked[1]
    elif total_col is None:
        total = len(made)
    return made, total


def _walk(
    conn: Connection,
    source: _Daily,
    selection: Selection,
    order: tuple[str, bool] | None,
    rate: tuple[str, str] | None,
    limit: int,
    offset: int,
) -> tuple[list[str], int] | None:
    """The page's value keys and the number of groups (counted to one past the ranking's
    limit: whether it was truncated), walked from the values' totals (store/analytics_top.py)
    when the ranking allows it: one project, no other filter, one period, highest first by a
    counter with a ranking index. None otherwise (the full sort of the daily counters
    answers)."""
    counter, descending = order if order else (selection.counts[0], True)
    if (
        rate is not None
        or not descending
        or counter not in RANKED_COUNTS
        or len(selection.periods) != 1
    ):
        return None
    projects = set(selection.project_ids)
    for name, operator, values in selection.filters:
        if name != "project_id" or operator not in ("eq", "in"):
            return None
        projects &= set(values)
    if len(projects) != 1:
        return None
    (project_id,) = projects
    period = selection.periods[0]
    days = (_hour(period.start, 86400), _hour(period.end, 86400, up=True))
    page = top(conn, int(project_id), source.name, counter, days, limit=limit, offset=offset)
    total = count_groups(conn, int(project_id), source.name, days, cap=RANKED_GROUP_LIMIT + 1)
    return page, total


class _Source:
    """Where counts are summed from: the events (exact, any dimension) or the hourly
    rollup (its dimensions only)."""

    table: Any
    rolled_up = True  # a count is a column of the table

    def conditions(self, selection: Selection) -> list[Any]:
        raise NotImplementedError

    def inside(self, period: Period) -> Any:
        raise NotImplementedError

    def count(self, name: str) -> tuple[Any, Any]:
        raise NotImplementedError

    def dimension(self, name: str) -> Any:
        raise NotImplementedError

    def grain(self, seconds: int) -> Any:
        raise NotImplementedError

    def filter(self, name: str, operator: str, values: Sequence[Value]) -> Any:
        return _compare(self.dimension(name), operator, values)

    def tie(self, group_by: Sequence[str]) -> Any:
        """What breaks ties in a ranking, descending, if not the groups' keys ascending."""
        return None


class _Events(_Source):
    rolled_up = False

    def __init__(self, dialect: str, group_by: Sequence[str], filtered: Sequence[str]) -> None:
        self.dialect = dialect
        self.table = events.join(messages, messages.c.id == events.c.message_id)
        if "message_type" in {*group_by, *filtered}:
            self.table = self.table.outerjoin(routes, routes.c.id == messages.c.route_id)

    def conditions(self, selection: Selection) -> list[Any]:
        types = sorted({t for name in selection.counts for t in COUNTS[name].types})
        return [
            events.c.project_id.in_(list(selection.project_ids)),
            events.c.type.in_(types),
            events.c.at >= min(p.start for p in selection.periods),
            events.c.at < max(p.end for p in selection.periods),
        ]

    def inside(self, period: Period) -> Any:
        return and_(events.c.at >= period.start, events.c.at < period.end)

    def count(self, name: str) -> tuple[Any, Any]:
        return count_sql(COUNTS[name])

    def dimension(self, name: str) -> Any:
        return dimension_sql(name, self.dialect)

    def grain(self, seconds: int) -> Any:
        return grain_sql(seconds, self.dialect)

    def tie(self, group_by: Sequence[str]) -> Any:
        """A dimension with daily counters ranks ties as they do (by the value's key)."""
        if len(group_by) == 1 and group_by[0] in DAILY:
            return func.coalesce(func.md5(self.dimension(group_by[0])), "")
        return None

    def filter(self, name: str, operator: str, values: Sequence[Value]) -> Any:
        if name.startswith("is_"):
            return events.c.classification.in_(sorted(CLASSES[name[3:]]))
        return super().filter(name, operator, values)


class _Hourly(_Source):
    """The hourly rollup. A period's end that is not a whole hour (now, in the window still
    going on) is taken up to its hour's end: no event is later than now."""

    table = analytics_hourly

    def conditions(self, selection: Selection) -> list[Any]:
        return [
            analytics_hourly.c.project_id.in_(list(selection.project_ids)),
            analytics_hourly.c.hour >= min(_hour(p.start) for p in selection.periods),
            analytics_hourly.c.hour < max(_hour(p.end, up=True) for p in selection.periods),
        ]

    def inside(self, period: Period) -> Any:
        hour = analytics_hourly.c.hour
        return and_(hour >= _hour(period.start), hour < _hour(period.end, up=True))

    def count(self, name: str) -> tuple[Any, Any]:
        return true(), analytics_hourly.c[name]

    def dimension(self, name: str) -> Any:
        if name == "route_id":
            route = analytics_hourly.c.route_id
            return case((route == 0, null()), else_=route)
        return analytics_hourly.c[name]

    def grain(self, seconds: int) -> Any:
        hour = analytics_hourly.c.hour
        return hour if seconds == 3600 else hour.op("/")(seconds // 3600)  # integer division

    def filter(self, name: str, operator: str, values: Sequence[Value]) -> Any:
        if name == "route_id":
            route = analytics_hourly.c.route_id
            if operator in ("is_null", "is_not_null"):
                return route == 0 if operator == "is_null" else route != 0
            return _compare(route, operator, values)
        return super().filter(name, operator, values)


class _Daily(_Source):
    """The daily counters of one dimension's values. A period's end that is not a whole day
    (now, in the window still going on) is taken up to the day's end: no event is later."""

    table = analytics_daily

    def __init__(self, dimension: str) -> None:
        self.name = dimension

    def conditions(self, selection: Selection) -> list[Any]:
        return [
            analytics_daily.c.project_id.in_(list(selection.project_ids)),
            analytics_daily.c.dimension == self.name,
            analytics_daily.c.day >= min(_hour(p.start, 86400) for p in selection.periods),
            analytics_daily.c.day < max(_hour(p.end, 86400, up=True) for p in selection.periods),
        ]

    def inside(self, period: Period) -> Any:
        day = analytics_daily.c.day
        return and_(day >= _hour(period.start, 86400), day < _hour(period.end, 86400, up=True))

    def count(self, name: str) -> tuple[Any, Any]:
        return true(), analytics_daily.c[name]

    def dimension(self, name: str) -> Any:
        if name == "project_id":
            return analytics_daily.c.project_id
        return analytics_daily.c.value

    def grain(self, seconds: int) -> Any:
        return analytics_daily.c.day

    def tie(self, group_by: Sequence[str]) -> Any:
        """The value's key (its hash), as the ranking from the totals orders them."""
        return analytics_daily.c.value_key if self.name in group_by else None

    def filter(self, name: str, operator: str, values: Sequence[Value]) -> Any:
        if name == "project_id":
            return _compare(analytics_daily.c.project_id, operator, values)
        key = analytics_daily.c.value_key
        if operator in ("is_null", "is_not_null"):
            return key == "" if operator == "is_null" else key != ""
        keys = [value_key(None if v is None else str(v)) for v in values]
        if operator == "not_in":
            return key.not_in(keys)
        return key.in_(keys)


def _hour(moment: datetime, seconds: int = 3600, *, up: bool = False) -> int:
    stamp = int(moment.timestamp())
    return -(-stamp // seconds) if up else stamp // seconds


def _ranking(
    current: Mapping[str, Any],
    selection: Selection,
    order: tuple[str, bool] | None,
    rate: tuple[str, str] | None,
) -> list[Any]:
    """ORDER BY terms (the sums themselves: PostgreSQL takes an output name only bare)."""
    descending = order[1] if order else True
    if rate is not None:
        value = current[rate[0]] * 1.0 / func.nullif(current[rate[1]], 0)
        return [(value.desc() if descending else value.asc()).nulls_last()]
    column = current[order[0] if order else selection.counts[0]]
    return [column.desc() if descending else column.asc()]


def count_sql(found: Count) -> tuple[ColumnElement[bool], Any]:
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
    if found.out_of_band is not None:
        out_of_band = func.coalesce(events.c.data["out_of_band"].as_boolean(), False)
        parts.append(out_of_band.is_(found.out_of_band))
    weight: Any = literal(1)
    if found.weight_recipients:
        weight = func.coalesce(events.c.data["recipients"].as_integer(), 0)
    return and_(*parts), weight


def grain_sql(seconds: int, dialect: str) -> Any:
    if dialect == "sqlite":
        # "/" of two integers: SQLite's integer division (SQLAlchemy's would be a true one)
        return cast(func.strftime("%s", events.c.at), Integer).op("/")(seconds)
    return cast(func.floor(func.extract("epoch", events.c.at) / seconds), Integer)


def dimension_sql(name: str, dialect: str) -> Any:
    if name.startswith(TAG_PREFIX):
        return _tag_value(name[len(TAG_PREFIX) :], dialect)
    if name == "recipient_domain":
        domain: Any
        if dialect == "sqlite":
            domain = func.substr(events.c.recipient, func.instr(events.c.recipient, "@") + 1)
        else:  # as SQLite's: what follows the first "@" (the rollup's writer does the same)
            domain = func.substr(events.c.recipient, func.strpos(events.c.recipient, "@") + 1)
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


def _compare(column: Any, operator: str, values: Sequence[Value]) -> Any:
    if operator == "is_null":
        return column.is_(None)
    if operator == "is_not_null":
        return column.is_not(None)
    if operator == "not_in":
        return or_(column.is_(None), column.not_in(list(values)))
    return column.in_(list(values)) if len(values) > 1 else column == values[0]


def _equals(column: Any, value: Value) -> Any:
    return column.is_(None) if value is None else column == value
