"""Analytics: one entry point, :func:`run`, for ``POST /v1/analytics`` and the dashboard.

``run(db, team, body, now)`` takes Lettermint's AnalyticsQuery as a mapping and answers its
AnalyticsResponse as a dict: it validates (core/analytics/query.py, a 422 naming the field),
counts in SQL (store/analytics.py) and shapes (core/analytics/shape.py). It only reads.

Counts stop at ``now`` (``meta.effective_to``): a page of a breakdown and the next one,
asked for with its cursor, are counted up to the same moment, so the pages do not shift.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from ..core.analytics import shape
from ..core.analytics.catalogue import RATES
from ..core.analytics.query import Query, parse
from ..core.analytics.window import Window, edges, grain_of, previous, rfc3339
from ..store import analytics as counting
from ..store import tenancy
from ..store.db import Database
from ..store.schema import events

__all__ = ["METRIC_DEFINITION_VERSION", "RANKED_GROUP_LIMIT", "run"]

METRIC_DEFINITION_VERSION = "mailbeacon-2026-12"
RANKED_GROUP_LIMIT = counting.RANKED_GROUP_LIMIT  # the store counts groups one past it


def run(
    db: Database,
    team: tenancy.Team,
    body: Mapping[str, Any],
    now: datetime,
    *,
    exact: bool = False,
) -> dict[str, Any]:
    """Lettermint's AnalyticsResponse for ``body`` over ``team``'s projects. ``exact``: count
    from the events even where the hourly rollup could answer (tests compare the two)."""
    cursor = body.get("cursor") if isinstance(body, Mapping) else None
    if isinstance(cursor, str) and cursor:
        now = shape.cursor_moment(cursor, now)  # the first page's moment
    now = now.astimezone(UTC)
    query = parse(body, now)
    offset = shape.decode_cursor(query.cursor, query.canonical()) if query.cursor else 0
    with db.read() as conn:
        return _Answer(conn, team, query, now, offset, exact).build()


class _Answer:
    def __init__(
        self,
        conn: Connection,
        team: tenancy.Team,
        query: Query,
        now: datetime,
        offset: int,
        exact: bool,
    ) -> None:
        self.conn, self.query, self.now, self.offset = conn, query, now, offset
        self.exact = exact
        projects = tenancy.list_projects(conn, team.id)
        self.projects = {p.id: p.public_id for p in projects}
        self.routes = {r.id: r.public_id for p in projects for r in tenancy.list_routes(conn, p.id)}
        self.available_since = min((p.created_at for p in projects), default=now)
        window = query.window
        self.effective_to = min(window.end, now)
        self.current = counting.Period(
            window.start, max(window.start, self.effective_to), cut=now < window.end
        )
        self.previous: Window | None = previous(window, query.timezone) if query.compare else None
        periods = [self.current]
        if self.previous is not None:
            periods.append(counting.Period(self.previous.start, self.previous.end))
        self.selection = counting.Selection(
            list(self.projects), query.counts, self._filters(), periods
        )

    def build(self) -> dict[str, Any]:
        query = self.query
        data: dict[str, Any] = {}
        pagination = {
            "total_groups": 0,
            "returned_groups": 0,
            "next_cursor": None,
            "truncated": False,
        }
        if "summary" in query.sections:
            data["summary"] = self._summary()
        if "time_series" in query.sections:
            data["time_series"] = self._series(())[()]
        if "breakdown" in query.sections:
            data["breakdown"], pagination = self._breakdown()
        return {"data": data, "meta": self._meta(), "pagination": pagination}

    # sections

    def _summary(self) -> dict[str, Any]:
        found, _ = counting.count(self.conn, self.selection, exact=self.exact)
        return self._values(found[0].values if found else ({}, {}))

    def _series(
        self, group_by: Sequence[str], only: Sequence[tuple[Any, ...]] | None = None
    ) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        """Time-series points per group (the key () when not grouped)."""
        query = self.query
        tz = query.timezone
        current = edges(query.window, query.interval, tz)
        before = edges(self.previous, query.interval, tz) if self.previous else []
        grain = grain_of([*current, *before])
        found, _ = counting.count(
            self.conn, self.selection, group_by=group_by, grain=grain, only=only, exact=self.exact
        )
        keys = {row.dimensions for row in found} if group_by else {()}
        if only is not None:
            keys = set(only)
        sums: dict[tuple[Any, ...], list[list[dict[str, int]]]] = {
            key: [[{} for _ in current[1:]], [{} for _ in before[1:]]] for key in keys
        }
        for row in found:
            moment = (
                datetime.fromtimestamp(row.grain * grain, UTC) if row.grain is not None else None
            )
            if moment is None:
                continue
            for period, bounds in enumerate((current, before)):
                if period >= len(row.values) or not bounds or not bounds[0] <= moment < bounds[-1]:
                    continue
                bucket = bisect.bisect_right(bounds, moment) - 1
                into = sums[row.dimensions][period][bucket]
                for name, value in row.values[period].items():
                    into[name] = into.get(name, 0) + value
        return {key: self._points(current, before, *sums[key]) for key in keys}

    def _points(
        self,
        current: list[datetime],
        before: list[datetime],
        now_sums: list[dict[str, int]],
        before_sums: list[dict[str, int]],
    ) -> list[dict[str, Any]]:
        points = []
        for index, (start, end) in enumerate(itertools.pairwise(current)):
            counts: tuple[Mapping[str, int], ...] = (now_sums[index],)
            if self.previous is not None:
                counts += (before_sums[index] if index < len(before_sums) else {},)
            point = self._values(counts)
            point.update(
                {
                    "from": rfc3339(start),
                    "to": rfc3339(end),
                    "available": start < self.now and end > self.available_since,
                    "partial": start < self.now < end or start < self.available_since < end,
                }
            )
            points.append(point)
        return points

    def _breakdown(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        query = self.query
        sort = query.sort_metric or query.metrics[0]
        rate = RATES.get(sort)
        limit = max(0, min(query.limit, RANKED_GROUP_LIMIT - self.offset))
        found, total = counting.count(
            self.conn,
            self.selection,
            group_by=query.group_by,
            order=(sort, query.descending),
            rate=(rate.numerator, rate.denominator) if rate else None,
            limit=limit,
            offset=self.offset,
            exact=self.exact,
        )
        trends = (
            self._series(query.group_by, [row.dimensions for row in found])
            if query.include_trend and found
            else {}
        )
        rows = []
        for row in found:
            shaped = self._values(row.values)
            shaped["dimensions"] = {
                name: self._public(name, value)
                for name, value in zip(query.group_by, row.dimensions, strict=True)
            }
            if query.include_trend:
                shaped["trend"] = trends.get(row.dimensions, [])
            rows.append(shaped)
        reachable = min(total, RANKED_GROUP_LIMIT)
        following = self.offset + len(found)
        next_cursor = None
        if found and following < reachable:
            next_cursor = shape.encode_cursor(query.canonical(), following, self.now)
        return rows, {
            # the groups the ranking holds: past its limit, only that there are more
            "total_groups": min(total, RANKED_GROUP_LIMIT),
            "returned_groups": len(found),
            "next_cursor": next_cursor,
            "truncated": total > RANKED_GROUP_LIMIT,
        }

    # pieces

    def _values(self, counts: Sequence[Mapping[str, int]]) -> dict[str, Any]:
        metrics = self.query.metrics
        shaped = shape.values(metrics, counts[0])
        if self.previous is not None and len(counts) > 1:
            before = shape.values(metrics, counts[1])
            shaped["previous"] = before
            shaped["change"] = shape.change(metrics, shaped["metrics"], before["metrics"])
        return shaped

    def _public(self, dimension: str, value: Any) -> str | None:
        if value is None:
            return None
        if dimension == "project_id":
            return self.projects.get(value)
        if dimension == "route_id":
            return self.routes.get(value)
        return str(value)

    def _filters(self) -> list[tuple[str, str, list[Any]]]:
        """The query's filters, project and route UUIDs as the team's ids (one that is not
        the team's matches nothing)."""
        made = []
        for found in self.query.filters:
            values: list[Any] = list(found.values)
            if found.dimension in ("project_id", "route_id"):
                known = self.projects if found.dimension == "project_id" else self.routes
                ids = {public: internal for internal, public in known.items()}
                values = [ids.get(value, -1) for value in values]
            made.append((found.dimension, found.operator, values))
        return made

    def _meta(self) -> dict[str, Any]:
        query = self.query
        window = query.window
        available = self.available_since.replace(minute=0, second=0, microsecond=0)
        ongoing = self.now < window.end
        meta: dict[str, Any] = {
            "time_basis": "event",
            "timezone": query.timezone.key,
            "interval": query.interval,
            "from": rfc3339(window.start),
            "to": rfc3339(window.end),
            "effective_to": rfc3339(max(window.start, self.effective_to)),
            "alignment": window.alignment,
            "generated_at": rfc3339(self.now),
            "available_since": rfc3339(available),
            "partial": ongoing or window.start < available,
            "ongoing": ongoing,
            "collection_completeness": "best_effort",
            "last_ingested_at": self._last_ingested(),
            "metric_definition_version": METRIC_DEFINITION_VERSION,
            "ranked_group_limit": RANKED_GROUP_LIMIT,
        }
        if self.previous is not None:
            meta["comparison"] = {
                "from": rfc3339(self.previous.start),
                "to": rfc3339(self.previous.end),
                "partial": self.previous.start < available,
            }
        return meta

    def _last_ingested(self) -> str | None:
        """The latest event of the team's projects in the counted window."""
        if not self.projects:
            return None
        latest = self.conn.execute(
            select(func.max(events.c.at)).where(
                events.c.project_id.in_(list(self.projects)),
                events.c.at >= self.current.start,
                events.c.at < self.current.end,
            )
        ).scalar()
        if isinstance(latest, str):  # SQLite's max() of the text column
            latest = datetime.fromisoformat(latest).replace(tzinfo=UTC)
        return rfc3339(latest) if latest is not None else None
