"""The window a query counts and its buckets, in the caller's time zone.

``from`` and ``to`` are calendar dates (inclusive, midnight to midnight in the query's time
zone) or RFC 3339 instants (``to`` exclusive), aligned outward to whole UTC hours, or whole
UTC days when a personal dimension (from_address, subject) is grouped or filtered. Buckets
are local days or hours: a day is midnight to midnight on the local wall clock, so the day a
clock goes back lasts 25 hours and the day it goes forward 23 (zoneinfo resolves them).

Every boundary is an instant in UTC; the SQL groups events by a grain that divides every
boundary (whole UTC hours, or quarter hours for the zones whose offset is not whole hours),
and the grains are added up into buckets (at most a few thousand rows, however many
events).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ApiError

__all__ = [
    "DEFAULT_DAYS",
    "MAX_WINDOW",
    "Window",
    "edges",
    "grain_of",
    "parse_window",
    "rfc3339",
    "zone",
]

MAX_WINDOW = timedelta(days=90)
DEFAULT_DAYS = 30
QUARTER = 900
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    alignment: str  # "hour" or "day": the grain instants were widened to
    by_dates: bool  # given as calendar dates: the previous period is the days before

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def rfc3339(moment: datetime) -> str:
    """2026-10-25T00:00:00.000Z: UTC, milliseconds, Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise _invalid("timezone", "Use an IANA time zone name, such as Europe/Amsterdam.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid("timezone", f"Unknown time zone {name!r}: use an IANA name.") from None


def parse_window(start: object, end: object, tz: ZoneInfo, now: datetime, *, daily: bool) -> Window:
    """The UTC window of ``from`` / ``to`` (None: the default, 30 days including today)."""
    alignment = "day" if daily else "hour"
    today = now.astimezone(tz).date()
    first = _bound(start, "from", tz, alignment, up=False)
    last = _bound(end, "to", tz, alignment, up=True)
    if first is None:
        anchor = last.astimezone(tz).date() if last is not None else today + timedelta(days=1)
        first = _midnight(anchor - timedelta(days=DEFAULT_DAYS), tz)
    if last is None:
        last = _midnight(today + timedelta(days=1), tz)
    if last <= first:
        raise _invalid("to", "The window is empty: to must be after from.")
    # a window of 90 local days may be an hour longer across a DST change
    if last - first > MAX_WINDOW + timedelta(hours=1):
        raise _invalid("to", "The window is at most 90 days long.")
    by_dates = all(isinstance(v, str) and _DATE.match(v) for v in (start, end) if v is not None)
    return Window(first, last, alignment, by_dates)


def previous(window: Window, tz: ZoneInfo) -> Window:
    """The period of the same length just before ``window``: as many local days when the
    window was given in dates, else the same duration."""
    if window.by_dates:
        days = (window.end.astimezone(tz).date() - window.start.astimezone(tz).date()).days
        start = _midnight(window.start.astimezone(tz).date() - timedelta(days=days), tz)
        return Window(start, window.start, window.alignment, True)
    return Window(window.start - window.duration, window.start, window.alignment, False)


def edges(window: Window, interval: str, tz: ZoneInfo) -> list[datetime]:
    """The boundaries of the buckets, first the window's start and last its end."""
    found = {window.start, window.end}
    if interval == "day":
        day = window.start.astimezone(tz).date()
        while (midnight := _midnight(day, tz)) < window.end:
            if midnight > window.start:
                found.add(midnight)
            day += timedelta(days=1)
    else:
        moment = _floor(window.start, QUARTER)
        while moment < window.end:
            if moment > window.start and moment.astimezone(tz).minute == 0:
                found.add(moment)
            moment += timedelta(seconds=QUARTER)
    return sorted(found)


def grain_of(boundaries: Sequence[datetime]) -> int:
    """Seconds of the SQL's grain: the longest of a UTC day, an hour and a quarter that
    divides every boundary (the daily counters answer day grains, the hourly ones hours)."""
    for seconds in (86400, 3600):
        if all(int(b.timestamp()) % seconds == 0 for b in boundaries):
            return seconds
    return QUARTER


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _floor(moment: datetime, seconds: int) -> datetime:
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _bound(value: object, name: str, tz: ZoneInfo, alignment: str, *, up: bool) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "Use a date (YYYY-MM-DD) or an RFC 3339 instant.")
    if _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _invalid(name, f"{value!r} is not a date.") from None
        return _midnight(day + timedelta(days=1) if up else day, tz)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(name, "Use a date (YYYY-MM-DD) or an RFC 3339 instant.") from None
    if moment.tzinfo is None or "T" not in value.upper():
        raise _invalid(name, "An instant needs a time and an offset (Z or +hh:mm).")
    seconds = 86400 if alignment == "day" else 3600
    floor = _floor(moment, seconds)
    return floor + timedelta(seconds=seconds) if up and floor != moment else floor


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"The {field} field is invalid: {message}", errors={field: [message]})
