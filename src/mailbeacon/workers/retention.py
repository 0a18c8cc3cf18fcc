"""The retention worker: personal data older than the settings allow is deleted or anonymised,
and deleted projects' data is purged (store/project_purge.py).

``MAILBEACON_RETENTION_HITS_DAYS`` (raw hits), ``..._BODIES_DAYS`` (message bodies, copies,
webhook delivery bodies) and ``..._PERSONAL_DAYS`` (events' address and user agent) say how
long; store/retention.py says what each one removes and what stays.

Every batch is its own short transaction of at most :data:`BATCH` rows, and the worker takes a
breath between batches, so other writers (the shipper, the promoter, the APIs) never wait long
for SQLite's write lock, and the redirect path, which writes only its own hit journal, never
waits at all. Several workers may run it at once: every change is idempotent, and a mark moved
twice moves to the same place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from ..clock import Clock
from ..config import Settings
from ..store import project_purge
from ..store import retention as store
from ..store.db import Database
from . import pause

__all__ = ["BATCH", "Retention", "RetentionPolicy", "retention_worker"]

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction: a few milliseconds of lock
BREATHER = 0.02  # seconds between batches while there is work, at least
# and at least this many times as long as the batch took: the purge takes at most a third of
# a core from the redirects sharing its process (bench/redirect --purge-rows)
BREATHER_RATIO = 2.0
IDLE_SECONDS = 60.0  # between passes once all is done
FEED_DAYS = 7  # the link feed's entries: every process has followed them long before

Step = Callable[[Connection, datetime, int], int]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of personal data is kept; None: for ever."""

    hits: timedelta | None
    bodies: timedelta | None
    personal: timedelta | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        def days(value: int) -> timedelta | None:
            return timedelta(days=value) if value else None

        return cls(
            hits=days(settings.retention_hits_days),
            bodies=days(settings.retention_bodies_days),
            personal=days(settings.retention_personal_days),
        )


def _hits(conn: Connection, before: datetime, limit: int) -> int:
    return store.purge_hits(conn, int(before.timestamp() * 1_000_000), limit)


def _deleted_projects(conn: Connection, before: datetime, limit: int) -> int:
    return project_purge.purge_batch(conn, limit)


class Retention:
    """One batch of each kind per :meth:`run_once`; :meth:`run_until_done` for a whole purge."""

    def __init__(
        self, db: Database, clock: Clock, policy: RetentionPolicy, *, batch: int = BATCH
    ) -> None:
        self.db = db
        self.clock = clock
        self.batch = batch
        self.steps: list[tuple[str, timedelta | None, Step]] = [
            ("hits", policy.hits, _hits),
            ("message_bodies", policy.bodies, store.purge_bodies),
            ("copies", policy.bodies, store.purge_copies),
            ("webhook_deliveries", policy.bodies, store.purge_deliveries),
            ("event_fields", policy.personal, store.anonymise_events),
            ("link_feed", timedelta(days=FEED_DAYS), store.purge_invalidations),
            # deleted projects' data (store/project_purge.py), whatever its age
            ("deleted_projects", timedelta(0), _deleted_projects),
        ]

    def run_once(self) -> dict[str, int]:
        """One batch of every kind that has work; rows changed by kind."""
        now = self.clock.now()
        done: dict[str, int] = {}
        for name, age, step in self.steps:
            if age is None:
                continue
            with self.db.write() as conn:
                done[name] = step(conn, now - age, self.batch)
        return done

    def run_until_done(self) -> dict[str, int]:
        """Batches until nothing is left to purge; rows changed by kind, in all."""
        total: dict[str, int] = {}
        while True:
            done = self.run_once()
            for name, count in done.items():
                total[name] = total.get(name, 0) + count
            if not any(done.values()):
                return total


async def retention_worker(retention: Retention, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            done = await asyncio.to_thread(retention.run_once)
        except Exception:
            log.exception("retention pass failed; retrying")
            done = {}
        if any(done.values()):
            log.debug("retention: %s", done)
            took = time.monotonic() - started
            await pause(stop, max(BREATHER, took * BREATHER_RATIO))
        else:
            await pause(stop, IDLE_SECONDS)
