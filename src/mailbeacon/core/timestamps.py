"""How every payload and API answer writes a moment: the seeds' forms, in one place.

The products' own examples are the contract, so a consumer's parsing and grouping written
against them work unchanged:

- everywhere, RFC 3339 in UTC with milliseconds and ``Z``: ``2025-08-08T20:18:30.000Z``
  (Lettermint's webhook ``timestamp`` in its click-tracking page; SparkPost's, hence Lettr's,
  ``injection_time``; Lettr's API answers);
- Lettermint's ``opened_at`` / ``clicked_at``, which its click-tracking page shows in PHP's
  ISO 8601 form, whole seconds and an offset: ``2025-08-08T20:18:30+00:00``
  (:func:`engagement_time`).

SparkPost's webhook ``timestamp`` (Unix seconds as text) is a number, not a date: it stays
with Lettr's dialect (core/lettr/webhooks.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["engagement_time", "rfc3339", "rfc3339_or_none"]


def rfc3339(moment: datetime) -> str:
    """``2025-01-15T10:30:00.000Z``: UTC, milliseconds (truncated, as JavaScript's
    ``toISOString`` does), ``Z``. A naive ``moment`` is taken to be UTC (how the store reads
    SQLite's dates)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def engagement_time(moment: datetime) -> str:
    """``2025-08-08T20:18:30+00:00``: Lettermint's ``opened_at`` / ``clicked_at``."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.isoformat(timespec="seconds")
