"""Periods as the viewer means them: presets and custom ranges of whole days in the viewer's
time zone, turned into UTC instants, with the period just before (for the change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ...core.errors import Refused

__all__ = ["PRESETS", "Period", "period_of"]

PRESETS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
PRESET_LABELS = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
}
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Period:
    preset: str  # a PRESETS key or "custom"
    first_day: date  # in the viewer's zone, inclusive
    last_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: the start of the day after the last."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), self.zone).astimezone(
            UTC
        )

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Period:
        span = timedelta(days=self.days)
        return Period(self.preset, self.first_day - span, self.last_day - span, self.zone)

    def label(self) -> str:
        return PRESET_LABELS.get(self.preset, f"{self.first_day} to {self.last_day}")


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{name} is not a date (YYYY-MM-DD).", errors={name: ["A date."]}) from None


def period_of(
    preset: str | None, start: str | None, end: str | None, now: datetime, zone: ZoneInfo
) -> Period:
    """The period a form asks for; a bad one is a Refused (422) naming the field."""
    today = now.astimezone(zone).date()
    if start or end or preset == "custom":
        first = _day(start or today.isoformat(), "from")
        last = _day(end or today.isoformat(), "to")
        if last < first:
            raise Refused("The period ends before it starts.", errors={"to": ["After from."]})
        if (last - first).days >= MAX_DAYS:
            raise Refused("A period is at most a year.", errors={"from": ["Closer to 'to'."]})
        return Period("custom", first, last, zone)
    preset = preset or "7d"
    if preset not in PRESETS:
        raise Refused("Unknown period.", errors={"period": [f"One of {', '.join(PRESETS)}."]})
    return Period(preset, today - timedelta(days=PRESETS[preset] - 1), today, zone)
