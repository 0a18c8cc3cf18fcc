"""The shipper: moves hits from this process's journal to the central database, exactly once.

The redirect path answers a hit once it is durable in the journal (store/journal.py); this
thread takes the oldest hits in batches, inserts them into ``observations`` in one central
transaction that also moves the journal's mark (store/shipping.py), and only then deletes
them from the journal. A crash between the two steps ships the batch again, and the mark
skips it. At start-up the first batches are whatever a previous run left: the replay is the
ordinary loop. Journals in the same directory that no live process holds (a serve killed and
restarted on another port) are adopted at start: shipped first, then deleted.

While the central database is away (refused connections, a dropped server, SQLite's lock
held by another process) a batch fails and is retried with a growing pause (0.1 s doubling
to 2 s); nothing is lost, the journal grows. Above its cap (``MAILBEACON_JOURNAL_CAP`` hits)
the redirect path stops journalling, keeps redirecting and counts what it did not keep, and
this module says so in the log every 10 s: the disk is not filled by an outage without end.

It is a thread, not a task on the event loop: a central insert must never block the loop
that answers clicks, and a thread needs no loop (the tests call :meth:`ship_now`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..core.errors import ConfigError
from ..store.db import Database, is_unavailable
from ..store.journal import Journal
from ..store.observations import ObservationWriter
from ..store.shipping import SqliteShipping, ship

__all__ = ["Shipper"]

log = logging.getLogger(__name__)

_FIRST_PAUSE, _LONGEST_PAUSE = 0.1, 2.0  # seconds between tries while the database is away
_FULL_WARNING_EVERY = 10.0  # seconds
_COMMITTING_SECONDS = 0.5  # a writer that committed this recently is writing


class Shipper:
    """Journal → ``observations``, in batches of ``batch`` hits, every ``interval`` seconds
    or as soon as a full batch waits."""

    def __init__(
        self,
        journal: Journal,
        db: Database,
        writer: ObservationWriter,
        *,
        cap: int,
        batch: int = 5000,
        interval: float = 0.1,
        before_each_pass: Callable[[], None] | None = None,
    ) -> None:
        self.journal = journal
        self._db = db
        self._writer = writer
        self.cap = cap
        self._batch = batch
        self._interval = interval
        self._before_each_pass = before_each_pass  # the link cache's write-behind
        # a SQLite database copies the rows itself, from the journal attached
        self._sqlite = SqliteShipping(db, journal.path) if db.is_sqlite else None
        self._lock = threading.Lock()  # one pass at a time: the thread's or ship_now's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._left_at_start = 0
        # journals of dead processes found at start, shipped before this one's, then deleted
        self._orphans: list[tuple[Journal, SqliteShipping | None]] = []
        self._warned_at = 0.0
        self.shipped = 0  # hits moved to the central database by this process
        self.failures = 0  # passes that could not reach the central database
        self.full = False  # read by the redirect path: journal at its cap, hits not kept
        self.unkept = 0  # hits answered but not journalled (the cap), counted by tracking

    @property
    def depth(self) -> int:
        """Hits in the journal now: left at start, plus journalled, minus shipped."""
        return self._left_at_start + self._writer.written - self.shipped

    def start(self) -> None:
        self._left_at_start = self.journal.open()
        if self._left_at_start:
            log.warning(
                "hit journal %s holds %d hits from a previous run: shipping them",
                self.journal.path,
                self._left_at_start,
            )
        self._adopt_orphans()
        self._update_full()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hit-shipper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last pass; what cannot be shipped waits for the next start."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._sqlite is not None:
            self._sqlite.close()
        self.journal.close()
        for orphan, shipping in self._orphans:
            if shipping is not None:
                shipping.close()
            orphan.close()
        self._orphans = []

    def _adopt_orphans(self) -> None:
        """Take the journals beside this one that no process holds (their file lock is free):
        a serve that died and came back on another port, or never came back."""
        own = self.journal.path
        for path in sorted(own.parent.glob("hits-*.sqlite3")):
            if path == own:
                continue
            orphan = Journal(path, synchronous=self.journal.db.sqlite_synchronous)
            try:
                left = orphan.open()
            except ConfigError:
                continue  # a live process's
            log.warning("adopting hit journal %s of a dead process: %d hits to ship", path, left)
            self._left_at_start += left
            shipping = SqliteShipping(self._db, path) if self._db.is_sqlite else None
            self._orphans.append((orphan, shipping))

    def ship_now(self) -> int:
        """Ship everything journalled so far (raises if the database is away); how many."""
        total = 0
        while True:
            shipped = self._pass()
            total += shipped
            if shipped < self._batch:
                return total

    def _run(self) -> None:
        pause = self._interval
        while not self._stop.is_set():
            self._stop.wait(pause)
            try:
                while self._pass() == self._batch and not self._stop.is_set():
                    pass  # a backlog: the next batch at once
            except Exception as exc:
                self.failures += 1
                pause = min(max(pause * 2, _FIRST_PAUSE), _LONGEST_PAUSE)
                if is_unavailable(exc):
                    log.warning(
                        "central database unavailable, %d hits wait in the journal: %s",
                        self.depth,
                        exc.__class__.__name__,
                    )
                else:
                    log.exception("could not ship hits; %d wait in the journal", self.depth)
            else:
                pause = self._interval
            finally:
                self._update_full()
        try:  # the last pass; on failure the hits wait in the journal for the next start
            self.ship_now()
            if self.journal.unforgotten:
                self.journal.forget(self.journal.shipped)
        except Exception:
            log.warning("%d hits stay in the journal until the next start", self.depth)

    def _pass(self) -> int:
        with self._lock:
            if self._before_each_pass is not None:
                self._before_each_pass()
            while self._orphans:  # the dead processes' hits first: they are the oldest
                orphan, shipping = self._orphans[0]
                count = self._batch_of(orphan, shipping)
                if count:
                    return count
                self._orphans.pop(0)
                if shipping is not None:
                    shipping.close()
                orphan.delete()
            return self._batch_of(self.journal, self._sqlite)

    def _batch_of(self, journal: Journal, shipping: SqliteShipping | None) -> int:
        """Ship the next batch of ``journal``; how many hits (0: it is all shipped)."""
        newest, done = journal.newest(), journal.shipped
        if newest <= done:
            if journal.unforgotten and not self._clicks_committing():
                journal.forget(done)  # the clicks stopped before their commits deleted these
            return 0
        up_to = min(newest, done + self._batch)  # the numbers have no gaps
        if shipping is not None:
            shipping.ship(journal.source, up_to)
        else:
            hits = journal.after(done, up_to)
            with self._db.write() as conn:
                ship(conn, journal.source, hits, up_to)
        if journal is self.journal and self._clicks_committing():
            journal.forget_later(up_to)  # their commits delete these, a share each (tidy)
        else:  # an adopted journal, or nobody writes: no click waits for the lock
            journal.forget(up_to)
        self.shipped += up_to - done
        return up_to - done

    def _clicks_committing(self) -> bool:
        """Whether the writer committed hits to the journal lately (store/journal.py
        ``forget_later``: then its commits delete what was shipped)."""
        return time.monotonic() - self._writer.written_at < _COMMITTING_SECONDS

    def _update_full(self) -> None:
        depth = self.depth
        self.full = depth >= self.cap
        if self.full and time.monotonic() - self._warned_at > _FULL_WARNING_EVERY:
            self._warned_at = time.monotonic()
            log.error(
                "HIT JOURNAL FULL: %d hits wait in %s (MAILBEACON_JOURNAL_CAP=%d); clicks "
                "still redirect but %d hits were not kept; the central database must come back",
                depth,
                self.journal.path,
                self.cap,
                self.unkept,
            )
