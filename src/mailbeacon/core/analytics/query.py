"""An analytics request body, validated into a :class:`Query` (Lettermint's AnalyticsQuery).

Every refusal is a 422 naming its field (``metrics``, ``group_by``, ``filters[0].values``,
...); a metric or dimension a tracker cannot know is refused with the supported ones listed
in the message and in ``error.details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import ApiError
from . import catalogue
from .catalogue import COUNTS, DIMENSIONS, FILTER_ONLY, LEVELS, METRICS, RATES, level_of
from .window import Window, parse_window, zone

__all__ = ["MAX_GROUPS", "MAX_LIMIT", "Filter", "Query", "parse"]

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_GROUPS = 3
SECTIONS = ("summary", "time_series", "breakdown")
OPERATORS = ("eq", "in", "not_in", "is_null", "is_not_null")
PERSONAL = frozenset({"from_address", "subject"})
FIELDS = frozenset(
    {
        "metrics",
        "from",
        "to",
        "timezone",
        "include",
        "group_by",
        "filters",
        "interval",
        "compare",
        "include_trend",
        "sort",
        "limit",
        "cursor",
    }
)


@dataclass(frozen=True, slots=True)
class Filter:
    dimension: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    metrics: tuple[str, ...]  # as asked, in order
    counts: tuple[str, ...]  # the counts they need (rates' bases included)
    window: Window
    timezone: ZoneInfo
    interval: str
    sections: tuple[str, ...]
    group_by: tuple[str, ...]
    filters: tuple[Filter, ...]
    compare: bool
    include_trend: bool
    sort_metric: str | None
    descending: bool
    limit: int
    cursor: str | None

    @property
    def personal(self) -> bool:
        return bool(PERSONAL & ({*self.group_by} | {f.dimension for f in self.filters}))

    def canonical(self) -> dict[str, Any]:
        """What a cursor is tied to: the query without its cursor."""
        return {
            "metrics": self.metrics,
            "from": self.window.start.isoformat(),
            "to": self.window.end.isoformat(),
            "timezone": self.timezone.key,
            "interval": self.interval,
            "include": self.sections,
            "group_by": self.group_by,
            "filters": [[f.dimension, f.operator, f.values] for f in self.filters],
            "compare": self.compare,
            "trend": self.include_trend,
            "sort": [self.sort_metric, self.descending],
            "limit": self.limit,
        }


def parse(body: object, now: datetime) -> Query:
    if not isinstance(body, Mapping):
        raise _invalid("body", "The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise _invalid(unknown[0], f"Unknown field; the fields are {', '.join(sorted(FIELDS))}.")
    metrics = _metrics(body.get("metrics"))
    sections = _sections(body.get("include"))
    group_by = _group_by(body.get("group_by"))
    if ("breakdown" in sections) != bool(group_by):
        field = "group_by" if "breakdown" in sections else "include"
        raise _invalid(field, "breakdown requires group_by, and group_by requires breakdown.")
    filters = _filters(body.get("filters"))
    _applicable(metrics, [*group_by, *(f.dimension for f in filters)])
    tz = zone(body.get("timezone", "UTC"))
    interval = body.get("interval", "day")
    if interval not in ("hour", "day"):
        raise _invalid("interval", "Use hour or day.")
    personal = bool(PERSONAL & ({*group_by} | {f.dimension for f in filters}))
    if personal and interval == "hour" and "time_series" in sections:
        raise _invalid("interval", "from_address and subject support daily buckets only.")
    window = parse_window(body.get("from"), body.get("to"), tz, now, daily=personal)
    compare = body.get("compare")
    if compare not in (None, "previous_period"):
        raise _invalid("compare", "Use previous_period, or leave it out.")
    trend = body.get("include_trend", False)
    if not isinstance(trend, bool):
        raise _invalid("include_trend", "Use true or false.")
    if trend and not group_by:
        raise _invalid("include_trend", "include_trend requires breakdown and group_by.")
    sort_metric, descending = _sort(body.get("sort"), metrics)
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _invalid("limit", f"Use a whole number from 1 to {MAX_LIMIT}.")
    cursor = body.get("cursor")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise _invalid("cursor", "Use the next_cursor of the previous page.")
    return Query(
        metrics,
        catalogue.counts_needed(metrics),
        window,
        tz,
        interval,
        sections,
        group_by,
        filters,
        compare == "previous_period",
        trend,
        sort_metric,
        descending,
        limit,
        cursor,
    )


def _metrics(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _invalid("metrics", "Ask for one or more metrics.")
    for index, name in enumerate(value):
        if not isinstance(name, str):
            raise _invalid(f"metrics[{index}]", "A metric is a string.")
        if name not in COUNTS and name not in RATES:
            what = (
                "cannot be known by a tracker"
                if name in catalogue.UNSUPPORTED_METRICS
                else "is unknown"
            )
            raise ApiError(
                422,
                f"The metric {name!r} {what}; supported metrics: {', '.join(METRICS)}.",
                code="unsupported_metric",
                errors={f"metrics[{index}]": [f"Unsupported metric {name!r}."]},
                details={"supported_metrics": list(METRICS)},
            )
    return tuple(dict.fromkeys(value))


def _sections(value: object) -> tuple[str, ...]:
    if value is None:
        return ("summary",)
    if not isinstance(value, list) or not value or any(v not in SECTIONS for v in value):
        raise _invalid("include", f"Use a list of {', '.join(SECTIONS)}.")
    return tuple(dict.fromkeys(value))


def _dimension(name: object, field: str, *, grouping: bool) -> str:
    if not isinstance(name, str) or level_of(name) is None or (grouping and name in FILTER_ONLY):
        supported = [d for d in DIMENSIONS if not (grouping and d in FILTER_ONLY)]
        supported.append("tag:<name>")
        what = (
            "cannot be known by a tracker"
            if name in catalogue.UNSUPPORTED_DIMENSIONS
            else ("is a filter only" if name in FILTER_ONLY else "is unknown")
        )
        raise ApiError(
            422,
            f"The dimension {name!r} {what}; supported: {', '.join(supported)}.",
            code="unsupported_dimension",
            errors={field: [f"Unsupported dimension {name!r}."]},
            details={"supported_dimensions": supported},
        )
    return name


def _group_by(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        raise _invalid("group_by", f"Use a list of at most {MAX_GROUPS} dimensions.")
    names = [_dimension(v, f"group_by[{i}]", grouping=True) for i, v in enumerate(value)]
    if len(set(names)) != len(names):
        raise _invalid("group_by", "A dimension appears twice.")
    return tuple(names)


def _filters(value: object) -> tuple[Filter, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("filters", "Use a list of {dimension, operator, values}.")
    return tuple(_filter(item, f"filters[{i}]") for i, item in enumerate(value))


def _filter(item: object, field: str) -> Filter:
    if not isinstance(item, Mapping):
        raise _invalid(field, "A filter is an object: {dimension, operator, values}.")
    dimension = _dimension(item.get("dimension"), f"{field}.dimension", grouping=False)
    operator = item.get("operator")
    if operator not in OPERATORS:
        raise _invalid(f"{field}.operator", f"Use one of {', '.join(OPERATORS)}.")
    values = item.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _invalid(f"{field}.values", "Use a list of strings.")
    wanted = {"eq": (1, 1), "in": (1, 1000), "not_in": (1, 1000)}.get(operator, (0, 0))
    if not wanted[0] <= len(values) <= wanted[1]:
        counted = {(1, 1): "exactly one value", (0, 0): "no values"}.get(
            wanted, "one or more values"
        )
        raise _invalid(f"{field}.values", f"{operator} takes {counted}.")
    if dimension in FILTER_ONLY and (operator != "eq" or values != ["1"]):
        raise _invalid(f"{field}.values", f"{dimension} is filtered with eq and the value 1.")
    return Filter(dimension, operator, tuple(values))


def _applicable(metrics: tuple[str, ...], dimensions: list[str]) -> None:
    """Every metric must be describable by every dimension grouped or filtered on."""
    for dimension in dimensions:
        level = LEVELS.index(level_of(dimension) or "message")
        for metric in catalogue.counts_needed(metrics):
            if LEVELS.index(COUNTS[metric].level) < level:
                raise _invalid(
                    "metrics",
                    f"{metric} cannot be broken down or filtered by {dimension}: "
                    f"{dimension} describes {LEVELS[level]}-level events only.",
                )


def _sort(value: object, metrics: tuple[str, ...]) -> tuple[str | None, bool]:
    if value is None:
        return None, True
    if not isinstance(value, Mapping):
        raise _invalid("sort", "Use {metric, direction}.")
    metric, direction = value.get("metric"), value.get("direction", "desc")
    if metric not in metrics:
        raise _invalid("sort.metric", "Sort by one of the metrics asked for.")
    if direction not in ("asc", "desc"):
        raise _invalid("sort.direction", "Use asc or desc.")
    return str(metric), direction == "desc"


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"The {field} field is invalid: {message}", errors={field: [message]})
