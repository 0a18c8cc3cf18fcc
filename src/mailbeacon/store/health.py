"""What /readyz and /metrics read from the central database: reachability and queue depths.

Each read is one indexed query (or a count over a status column), cheap enough for a scrape
every few seconds; a deployment reads them once per scrape whichever process answers.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, text

from .schema import copies, unpromoted
from .schema import webhook_deliveries as deliveries

__all__ = [
    "deliveries_by_status",
    "oldest_unpromoted_us",
    "outbound_depth",
    "ping",
    "webhook_depth",
]


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def oldest_unpromoted_us(conn: Connection) -> int | None:
    """The time of the oldest hit the promoter has not judged yet (the first key of
    ``unpromoted``); None when it is up to date."""
    found = conn.execute(select(func.min(unpromoted.c.at_us))).scalar()
    return None if found is None else int(found)


def outbound_depth(conn: Connection) -> int:
    """Recipient copies waiting for the upstream (queued, or being sent and retried)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(copies)
            .where(copies.c.status.in_(("queued", "processed")))
        ).scalar_one()
    )


def webhook_depth(conn: Connection) -> int:
    """Webhook deliveries still to make (a first attempt or a retry)."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.next_retry_at.isnot(None))
        ).scalar_one()
    )


def deliveries_by_status(conn: Connection) -> dict[str, int]:
    """Webhook deliveries by their latest outcome (pending, success, client_error, ...)."""
    rows = conn.execute(
        select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    ).all()
    return {str(status): int(n) for status, n in rows}
