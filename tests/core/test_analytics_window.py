"""Windows and buckets in a time zone (core/analytics/window.py): local days across a DST
change, instants aligned outward, the 90-day limit, the previous period."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from mailbeacon.core.analytics.window import edges, grain_of, parse_window, previous, rfc3339, zone
from mailbeacon.core.errors import ApiError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AMSTERDAM = zone("Europe/Amsterdam")


def test_the_day_the_clocks_go_back_lasts_25_hours() -> None:
    window = parse_window("2026-10-24", "2026-10-26", AMSTERDAM, NOW, daily=False)
    days = edges(window, "day", AMSTERDAM)
    assert [rfc3339(d) for d in days] == [
        "2026-10-23T22:00:00.000Z",  # midnight, summer time (UTC+2)
        "2026-10-24T22:00:00.000Z",
        "2026-10-25T23:00:00.000Z",  # 25 hours later: winter time (UTC+1)
        "2026-10-26T23:00:00.000Z",
    ]
    assert [(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(days)] == [24, 25, 24]
    hours = edges(
        parse_window("2026-10-25", "2026-10-25", AMSTERDAM, NOW, daily=False), "hour", AMSTERDAM
    )
    assert len(hours) - 1 == 25
    assert grain_of(hours) == 3600
    assert (
        grain_of(
            edges(
                parse_window("2026-10-25", None, zone("UTC"), NOW, daily=False), "day", zone("UTC")
            )
        )
        == 86400
    )


def test_the_day_the_clocks_go_forward_lasts_23_hours() -> None:
    window = parse_window("2026-03-29", "2026-03-29", AMSTERDAM, NOW, daily=False)
    assert window.duration.total_seconds() == 23 * 3600
    assert len(edges(window, "hour", AMSTERDAM)) - 1 == 23


def test_zones_off_the_hour_bucket_by_quarter_hours() -> None:
    kolkata = zone("Asia/Kolkata")
    window = parse_window("2026-11-01", "2026-11-02", kolkata, NOW, daily=False)
    assert rfc3339(window.start) == "2026-10-31T18:30:00.000Z"
    assert grain_of(edges(window, "day", kolkata)) == 900


def test_instants_are_aligned_outward_to_hours_or_days() -> None:
    utc = zone("UTC")
    hourly = parse_window(
        "2026-11-01T10:15:00Z", "2026-11-01T12:00:01+00:00", utc, NOW, daily=False
    )
    assert (rfc3339(hourly.start), rfc3339(hourly.end)) == (
        "2026-11-01T10:00:00.000Z",
        "2026-11-01T13:00:00.000Z",
    )
    daily = parse_window("2026-11-01T10:15:00Z", "2026-11-02T10:00:00Z", utc, NOW, daily=True)
    assert (rfc3339(daily.start), rfc3339(daily.end)) == (
        "2026-11-01T00:00:00.000Z",
        "2026-11-03T00:00:00.000Z",
    )
    assert daily.alignment == "day"


def test_the_default_is_thirty_days_including_today() -> None:
    window = parse_window(None, None, zone("UTC"), NOW, daily=False)
    assert (rfc3339(window.start), rfc3339(window.end)) == (
        "2026-10-25T00:00:00.000Z",
        "2026-11-24T00:00:00.000Z",
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-01", "2026-11-23"),
        ("2026-11-23", "2026-11-22"),
        ("yesterday", None),
        ("2026-11-01T10:00:00", None),
        ("2026-02-30", None),
    ],
)
def test_bad_windows_are_refused(start: str, end: str | None) -> None:
    with pytest.raises(ApiError) as refused:
        parse_window(start, end, zone("UTC"), NOW, daily=False)
    assert refused.value.status == 422


def test_ninety_local_days_across_a_dst_change_are_allowed() -> None:
    window = parse_window("2026-09-01", "2026-11-29", AMSTERDAM, NOW, daily=False)
    assert window.duration.total_seconds() == 90 * 86400 + 3600


def test_the_previous_period_of_dates_is_as_many_local_days_before() -> None:
    window = parse_window("2026-10-25", "2026-10-26", AMSTERDAM, NOW, daily=False)
    before = previous(window, AMSTERDAM)
    assert (rfc3339(before.start), rfc3339(before.end)) == (
        "2026-10-22T22:00:00.000Z",
        "2026-10-24T22:00:00.000Z",
    )
