"""Retry schedules, as data."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["OUTBOUND_SCHEDULE", "next_delay"]

# After a temporary upstream failure (4xx reply, connection error, timeout): wait, then try
# again; after the last delay the copy fails. About 22 hours in all, like an MTA's queue.
OUTBOUND_SCHEDULE = tuple(timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120, 240, 480, 480))


def next_delay(schedule: tuple[timedelta, ...], attempts_made: int) -> timedelta | None:
    """How long to wait after ``attempts_made`` failed attempts; None: give up."""
    if attempts_made < 1:
        return timedelta(0)
    if attempts_made > len(schedule):
        return None
    return schedule[attempts_made - 1]
