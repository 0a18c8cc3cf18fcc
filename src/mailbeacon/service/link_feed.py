"""Following the feed of changed links (store/link_changes.py) in one serve process.

Every process that answers clicks holds destinations in memory and in its hit journal
(service/links.py). When a link is fixed after sending, or an erasure rewrites a message, the
change appends the message to ``link_invalidations``; :class:`LinkFeed` polls it every
:data:`POLL_SECONDS` by id (an index range of the primary key: nothing when nothing changed),
reads the current destinations of the messages this process holds, and hands them to the
cache. A version counter polled, rather than PostgreSQL's LISTEN/NOTIFY: it works the same on
SQLite, shared by processes on one machine, and a process that was down catches up from the
mark its journal keeps, so its journal never serves a destination that changed meanwhile.

The poll runs in a thread; the event loop only waits for it. While the database is away the
feed waits too (the cache keeps serving what it has) and catches up when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import Connection

from ..store import link_changes
from ..store.db import Database
from .links import LinkCache

__all__ = ["POLL_SECONDS", "LinkFeed"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BATCH = 20_000  # feed entries per poll: a fix over a whole campaign takes a few polls


class LinkFeed:
    def __init__(self, db: Database, links: LinkCache) -> None:
        self._db = db
        self._links = links
        self._mark: int | None = None  # the last feed entry followed
        self._failing = False  # the database was away at the last poll: said once

    def poll_once(self) -> int:
        """Follow what the feed holds since the last call; how many entries."""
        journal = self._links.journal
        with self._db.read() as conn:
            if self._mark is None:
                kept = journal.feed_mark() if journal is not None else None
                if kept is None:
                    # a new journal knows no links yet: only what comes from now on matters,
                    # and from now on the journal says where its process stopped following
                    kept = link_changes.newest_invalidation(conn)
                    if journal is not None:
                        journal.set_feed_mark(kept)
                elif journal is not None and self._missed(conn, kept):
                    log.info("link changes were missed while stopped: reading links again")
                    journal.forget_links()
                self._mark = kept
            entries = link_changes.invalidations_after(conn, self._mark, BATCH)
            if not entries:
                return 0
            held = self._links.known({e.message_id for e in entries})
            fresh = link_changes.current_links(conn, held)
        self._links.refresh(fresh)
        erased = [copy_id for e in entries for copy_id in e.copy_ids or ()]
        self._links.anonymise_hits(erased)
        self._mark = entries[-1].id
        if journal is not None:
            journal.set_feed_mark(self._mark)
        return len(entries)

    @staticmethod
    def _missed(conn: Connection, kept: int) -> bool:
        """Whether entries after ``kept`` were purged before this process read them (the
        feed keeps its newest entry, so a gap after the mark means some are gone; a gap of
        ids for another reason only costs reading the links again)."""
        oldest = link_changes.oldest_invalidation(conn)
        return oldest is not None and oldest > kept + 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                followed = await asyncio.to_thread(self.poll_once)
            except Exception:
                if not self._failing:  # once per outage, not every second of it
                    log.warning("cannot follow the link feed now; trying again", exc_info=True)
                self._failing = True
                followed = 0
            else:
                if self._failing:
                    log.info("following the link feed again")
                self._failing = False
            if followed < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
