"""Counts into Lettermint's answer: metric values, rate bases, the previous period and the
change, and the cursor that pages a breakdown.

A rate is a fraction with its numerator and denominator beside it (``rate_bases``); a zero
denominator gives ``null``. A change has ``absolute`` and ``relative`` for counts (relative
is ``null`` from zero) and ``percentage_points`` for rates.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..errors import ApiError
from .catalogue import RATES

__all__ = [
    "CURSOR_LIFETIME",
    "change",
    "cursor_moment",
    "decode_cursor",
    "encode_cursor",
    "fingerprint",
    "values",
]

# How long a breakdown's cursor can be used. Its pages are counted up to the moment the
# first page was, but the counters answer in whole hours or days: the later a page is asked
# for, the more events arrived after that moment and still inside its hour or day can move a
# group across a page's edge (a row seen twice or never), and retention may have deleted
# what the first page counted. An hour is ample for a client paging through in a loop (the
# SDK's analytics_pages) or a person reading a few pages, and keeps that drift small.
CURSOR_LIFETIME = timedelta(hours=1)
# A cursor a little in the future: another process's clock, slightly ahead.
CLOCK_SKEW = timedelta(minutes=5)


def values(metrics: tuple[str, ...], counts: Mapping[str, int]) -> dict[str, Any]:
    """``{"metrics": ..., "rate_bases": ...}`` for one group, bucket or the summary."""
    shown: dict[str, Any] = {}
    bases: dict[str, Any] = {}
    for metric in metrics:
        rate = RATES.get(metric)
        if rate is None:
            shown[metric] = counts.get(metric, 0)
            continue
        numerator, denominator = counts.get(rate.numerator, 0), counts.get(rate.denominator, 0)
        shown[metric] = numerator / denominator if denominator else None
        bases[metric] = {"numerator": numerator, "denominator": denominator}
    return {"metrics": shown, "rate_bases": bases}


def change(
    metrics: tuple[str, ...], now: Mapping[str, Any], before: Mapping[str, Any]
) -> dict[str, Any]:
    """Per metric, how it moved from ``before`` to ``now`` (both ``values(...)["metrics"]``)."""
    made: dict[str, Any] = {}
    for metric in metrics:
        current, previous = now.get(metric), before.get(metric)
        if metric in RATES:
            points = None if current is None or previous is None else (current - previous) * 100
            made[metric] = {
                "absolute": None if current is None or previous is None else current - previous,
                "relative": _relative(current, previous),
                "percentage_points": points,
            }
        else:
            made[metric] = {
                "absolute": (current or 0) - (previous or 0),
                "relative": _relative(current, previous),
            }
    return made


def _relative(current: float | None, previous: float | None) -> float | None:
    if current is None or not previous:
        return None
    return (current - previous) / previous


def fingerprint(canonical: Mapping[str, Any]) -> str:
    text = json.dumps(canonical, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(canonical: Mapping[str, Any], offset: int, pinned: datetime) -> str:
    """An opaque cursor: the next row's offset and the moment the first page was counted at,
    tied to the query (another query with it is refused). Every page counts up to that
    moment, so rows arriving meanwhile do not shift the pages."""
    raw = {"q": fingerprint(canonical), "o": offset, "t": pinned.isoformat()}
    text = json.dumps(raw, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_moment(cursor: str, now: datetime) -> datetime:
    """The moment a cursor's pages are counted at (checked against the query later); a 422
    ``cursor_expired`` once it is older than :data:`CURSOR_LIFETIME` at ``now``."""
    try:
        moment = datetime.fromisoformat(_open(cursor)["t"])
    except (ValueError, TypeError, KeyError):
        raise _bad_cursor() from None
    if moment.tzinfo is None or moment > now + CLOCK_SKEW:
        raise _bad_cursor()
    if now - moment > CURSOR_LIFETIME:
        minutes = int(CURSOR_LIFETIME.total_seconds() // 60)
        message = (
            f"This cursor has expired: a cursor can be used for {minutes} minutes after the "
            "first page. Ask for the first page again (the same query without a cursor)."
        )
        raise ApiError(422, message, code="cursor_expired", errors={"cursor": [message]})
    return moment


def decode_cursor(cursor: str, canonical: Mapping[str, Any]) -> int:
    """The offset a cursor points at; a 422 if it is not one of this query's."""
    try:
        raw = _open(cursor)
        offset, tied = raw["o"], raw["q"]
    except (ValueError, TypeError, KeyError):
        raise _bad_cursor() from None
    if tied != fingerprint(canonical) or not isinstance(offset, int) or offset < 0:
        raise _bad_cursor()
    return offset


def _open(cursor: str) -> Any:
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    if not isinstance(raw, dict):
        raise ValueError(cursor)
    return raw


def _bad_cursor() -> ApiError:
    message = "This cursor is not one of this query's: repeat the same query with it."
    return ApiError(422, message, errors={"cursor": [message]})
