"""The seeds' date forms (core/timestamps.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mailbeacon.core.timestamps import engagement_time, rfc3339, rfc3339_or_none


def test_rfc3339_is_utc_with_milliseconds_and_z_as_lettermints_example() -> None:
    assert rfc3339(datetime(2025, 8, 8, 20, 18, 30, tzinfo=UTC)) == "2025-08-08T20:18:30.000Z"
    assert rfc3339(datetime(2025, 1, 15, 10, 30, 0, 123999, tzinfo=UTC)) == (
        "2025-01-15T10:30:00.123Z"  # truncated, as JavaScript's toISOString
    )


def test_rfc3339_converts_an_offset_and_reads_a_naive_moment_as_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2025, 8, 8, 22, 18, 30, tzinfo=paris)) == "2025-08-08T20:18:30.000Z"
    assert rfc3339(datetime(2025, 8, 8, 20, 18, 30)) == "2025-08-08T20:18:30.000Z"
    assert rfc3339_or_none(None) is None


def test_engagement_time_is_the_form_of_lettermints_clicked_at() -> None:
    moment = datetime(2025, 8, 8, 20, 18, 30, 500000, tzinfo=UTC)
    assert engagement_time(moment) == "2025-08-08T20:18:30+00:00"
    assert datetime.fromisoformat(engagement_time(moment)) == moment.replace(microsecond=0)
