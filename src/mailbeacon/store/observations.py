"""Observations: raw hits on tracking URLs, written on the redirect path by group commit.

`mailbeacon serve` points the writer at its hit journal (store/journal.py, a SQLite file of
the process's own), from which service/shipper.py moves the hits to the central
``observations`` table (store/shipping.py); the writer can also write ``observations``
directly (its tests, and the benchmark's reference).

:class:`ObservationWriter` batches every hit that arrives during one turn of the event loop
and hands the batch to a writer thread, which commits it in one transaction while the next
batch gathers. Each request awaits its batch's commit before answering, so an answered hit is
in the database (on SQLite: in the WAL, which survives a killed process), yet a commit costs
one transaction per batch, not per hit, and there is no fixed tick to wait for.

On SQLite (with ``synchronous=normal``, the default) a batch is first tried on the event loop
itself, when no other writer holds the lock: the insert and commit of a batch of 64 take the
loop ~0.4 ms, less than handing it to the thread costs (:meth:`_commit_inline`). A batch that
finds the lock held by another thread of this process waits on the loop for it, briefly
(:meth:`_wait_for_lock`); the thread takes the batches that would wait longer, or for
another process. Both write through DBAPI connections of
their own: SQLAlchemy's connection checkout, events and transaction objects cost more than the
insert of a whole small batch (about 150 us against 5 us a row). Those connections never
checkpoint the log: store/checkpoints.py does, so that no click waits for an fsync. PostgreSQL
batches go through SQLAlchemy in the thread as everything else does; a network round trip
dwarfs that overhead, and must not block the loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from .checkpoints import WalCheckpointer
from .db import Database
from .schema import observations

__all__ = [
    "KIND_CLICK",
    "KIND_HONEYPOT",
    "KIND_OPEN",
    "ObservationWriter",
    "Row",
    "count",
    "insert_hits",
]

log = logging.getLogger(__name__)

# A batch that finds the write lock held by another thread of this process (the shipper
# deleting what it shipped, a checkpoint's second pass: a millisecond or so) is tried again on
# the loop this often, for up to this long, before the thread takes it (:meth:`_wait_for_lock`).
_LOCK_RETRY = 0.0002  # seconds
_LOCK_PATIENCE = 0.02  # seconds
# what an inline try came to
_SETTLED, _LOCKED, _BUSY = "settled", "locked", "busy"

KIND_OPEN, KIND_CLICK, KIND_HONEYPOT = 1, 2, 3
KIND_NAMES = {KIND_OPEN: "open", KIND_CLICK: "click", KIND_HONEYPOT: "honeypot"}

# copy_id, kind, link_index, at_us, method, host, ip, user_agent, headers (JSON text)
Row = tuple[int, int, int, int, str, str, str | None, str, str]
# the columns of a hit, in the order web/tracking.py builds its Row (the journal's too)
HIT_COLUMNS = (
    "copy_id",
    "kind",
    "link_index",
    "at_us",
    "method",
    "host",
    "ip",
    "user_agent",
    "headers",
)


# Every observation waits in ``unpromoted`` for the promoter (store/schema.py), put there in
# the transaction that inserts it: by the statements below, one per batch. (A trigger did it
# too, for any writer, but SQLite runs a trigger's program per row: 1.7 us a hit more on the
# shipper, which shares the redirect's core; bench/promote/marks.py.)
_COLUMNS = ", ".join(HIT_COLUMNS)
_LAST_ID = "SELECT coalesce(max(id), 0) FROM observations"
# SQLite, after an insert under the write lock: the rows with ids above the last one before
QUEUE_SINCE = (
    "INSERT INTO unpromoted (at_us, observation_id) SELECT at_us, id FROM observations WHERE id > ?"
)
_INSERT = {  # one hit's row, by the driver's parameter marker: sqlite3's, psycopg's
    marker: f"INSERT INTO observations ({_COLUMNS}) "
    f"VALUES ({', '.join([marker] * len(HIT_COLUMNS))})"
    for marker in ("?", "%s")
}
# PostgreSQL: a batch in one statement, its rows queued by what the insert returns
_POSTGRES_INSERT = (
    f"WITH made AS (INSERT INTO observations ({_COLUMNS}) SELECT * FROM unnest("
    "%s::bigint[], %s::smallint[], %s::integer[], %s::bigint[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[]) RETURNING at_us, id) "
    "INSERT INTO unpromoted (at_us, observation_id) SELECT at_us, id FROM made"
)


def insert_hits(conn: Connection, rows: Sequence[Row]) -> None:
    """Insert hits into ``observations``, each queued for the promoter, in the caller's
    transaction (on SQLite: one begun with BEGIN IMMEDIATE, as :meth:`Database.write`'s, so
    that no other writer's rows come between)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = tuple(list(values) for values in zip(*rows, strict=True))  # one array each
        conn.exec_driver_sql(_POSTGRES_INSERT, columns)
        return
    _insert_queued(conn.connection.driver_connection, _INSERT["?"], rows)


def _insert_queued(dbapi: Any, sql: str, rows: Sequence[Row]) -> None:
    """SQLite, inside a write transaction: insert ``rows`` with ``sql`` (one executemany) and
    queue each for the promoter: the ids above the largest before are theirs."""
    before = dbapi.execute(_LAST_ID).fetchone()[0]
    dbapi.executemany(sql, rows)
    dbapi.execute(QUEUE_SINCE, (before,))


class ObservationWriter:
    """Group commit of observation rows (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        sql: str | None = None,
        tidy: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """``sql`` inserts one :data:`Row` (the journal's, store/journal.py); by default the
        writer inserts into ``observations``. ``tidy``: more work for each commit's
        transaction, on SQLite (the journal's shipped hits deleted, store/journal.py)."""
        self._db = db
        self._tidy = tidy
        # a hit's row goes to the driver as the endpoint built it; into ``observations`` (not
        # a journal), each is queued for the promoter in the same transaction
        self._queued = sql is None
        self._sql = sql or _INSERT["?" if db.is_sqlite else "%s"]
        self._batches: queue.SimpleQueue[tuple[list[Row], asyncio.Future[None]] | None] = (
            queue.SimpleQueue()
        )
        self._rows: list[Row] | None = None
        self._future: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sqlite: sqlite3.Connection | None = None  # the thread's own, on SQLite
        self._inline: sqlite3.Connection | None = None  # the event loop's own, on SQLite
        self._checkpointer = WalCheckpointer(db) if db.is_sqlite else None
        # Inline commits block the loop for the commit: only when it does not wait for the
        # disk (synchronous=normal: a WAL commit is a write to the page cache, no fsync).
        self._inline_ok = db.is_sqlite and db.sqlite_synchronous == "normal"
        self._locked_since: float | None = None  # the loop's time a batch first found it so
        self._stopping = False
        self.inline_batches = 0  # batches committed on the event loop, for tests
        self.lock_waits = 0  # tries put off because another thread held the lock, for tests
        self.written = 0  # rows committed, for the benchmark's accounting
        self.written_at = -math.inf  # time.monotonic() of the last commit
        self.failed = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._stopping = False
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._thread = threading.Thread(target=self._run, name="observation-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True  # a batch waiting for the lock goes to the thread, now
        if self._thread is not None:
            if self._rows is not None:
                self._dispatch()
            self._batches.put(None)
            self._thread.join()
            self._thread = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._checkpointer is not None:
            self._checkpointer.stop()

    def record(self, row: Row) -> asyncio.Future[None]:
        """Queue a row; the returned future completes when its batch is committed."""
        if self._rows is None:
            loop = self._loop
            assert loop is not None, "ObservationWriter.start() was not called"
            self._rows, self._future = [], loop.create_future()
            loop.call_soon(self._dispatch)  # after everything already runnable on the loop
        self._rows.append(row)
        assert self._future is not None
        return self._future

    def _dispatch(self) -> None:
        rows, future = self._rows, self._future
        if rows is None or future is None:
            return  # a retry after stop() sent the batch to the thread
        self._rows = self._future = None
        if self._inline_ok:
            outcome = self._commit_inline(rows, future)
            if outcome == _SETTLED:
                self._locked_since = None
                return
            if outcome == _LOCKED and self._wait_for_lock(rows, future):
                return
        self._locked_since = None
        self._batches.put((rows, future))

    def _wait_for_lock(self, rows: list[Row], future: asyncio.Future[None]) -> bool:
        """Another thread of this process holds the write lock: keep the batch on the loop,
        where the clicks arriving meanwhile join it, and try again shortly, for up to
        :data:`_LOCK_PATIENCE`; False once that is over (the thread takes the batch).

        The thread would wait for the same lock, then cost more: its executemany takes the
        GIL back for every row, and with the promoter working each retake waited up to the
        switch interval, so a thread's batch of 64 took 5-11 ms (bench/redirect, the whole
        job), where the lock itself is held for about a millisecond."""
        assert self._loop is not None
        if self._stopping:
            return False
        now = self._loop.time()
        if self._locked_since is None:
            self._locked_since = now
        elif now - self._locked_since >= _LOCK_PATIENCE:
            return False
        self._rows, self._future = rows, future
        self._loop.call_later(_LOCK_RETRY, self._dispatch)
        self.lock_waits += 1
        return True

    def _commit_inline(self, rows: list[Row], future: asyncio.Future[None]) -> str:
        """SQLite: commit the batch here, on the event loop, if no writer holds the lock.
        :data:`_LOCKED` if another thread of this process holds it, :data:`_BUSY` if another
        process does (the thread takes that batch and waits, retries, reports), so the loop
        never waits for a lock.

        Handing a batch to the thread costs more than the insert itself: the thread's
        sqlite3 calls release and take back the GIL for every row, and each time it has to
        win it from the event loop, which is serving the next clicks. Inline, a batch of 64
        costs the loop ~0.4 ms, and clicks still wait for nothing but their own commit."""
        lock = self._db.sqlite_lock
        if not lock.acquire(blocking=False):  # another writer of this process
            return _LOCKED
        try:
            try:
                conn = self._inline
                if conn is None:
                    conn = self._inline = self._connect()
                    conn.execute("PRAGMA busy_timeout=0")  # another process writes: the thread
                conn.execute("BEGIN IMMEDIATE")
            except Exception:  # SQLITE_BUSY, or worse: the thread waits, retries, reports
                return _BUSY
            try:
                _insert_and_commit(conn, self._sql, rows, queued=self._queued, tidy=self._tidy)
            except Exception as exc:
                self.failed += len(rows)
                log.exception("could not record %d observations", len(rows))
                future.set_exception(exc)
                return _SETTLED  # the failure is the batch's answer
        finally:
            lock.release()
        self.written += len(rows)
        self.written_at = time.monotonic()
        self.inline_batches += 1
        future.set_result(None)
        assert self._checkpointer is not None
        self._checkpointer.wrote()
        return _SETTLED

    def _run(self) -> None:
        while True:
            item = self._batches.get()
            if item is None:
                break
            batches = [item]
            while True:  # whatever gathered meanwhile joins this transaction
                try:
                    extra = self._batches.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    self._batches.put(None)
                    break
                batches.append(extra)
            rows = [row for batch_rows, _ in batches for row in batch_rows]
            error: BaseException | None = None
            try:
                if self._db.is_sqlite:
                    self._insert_sqlite(rows)
                else:
                    with self._db.write() as conn:
                        if self._queued:
                            insert_hits(conn, rows)
                        else:
                            conn.exec_driver_sql(self._sql, rows)
                self.written += len(rows)
                self.written_at = time.monotonic()
            except Exception as exc:  # the database is unavailable: answer, but say so
                error = exc
                self.failed += len(rows)
                log.exception("could not record %d observations", len(rows))
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_settle, [f for _, f in batches], error)
            if self._checkpointer is not None and error is None:
                self._checkpointer.wrote()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    def _insert_sqlite(self, rows: list[tuple[Any, ...]]) -> None:
        """One transaction on the thread's own connection, under the process's write lock
        (store/db.py) like every other writer."""
        conn = self._sqlite
        if conn is None:
            conn = self._sqlite = self._connect()
        with self._db.sqlite_lock:
            conn.execute("BEGIN IMMEDIATE")
            _insert_and_commit(conn, self._sql, rows, queued=self._queued, tidy=self._tidy)

    def _connect(self) -> sqlite3.Connection:
        """A connection of the writer's own, configured as the pool's (store/db.py)."""
        pooled = self._db.engine.raw_connection()
        dbapi: Any = pooled.dbapi_connection
        pooled.detach()  # never back to the pool: its autocheckpoint is off
        assert isinstance(dbapi, sqlite3.Connection)
        dbapi.execute("PRAGMA wal_autocheckpoint=0")  # WalCheckpointer's job
        return dbapi


def _insert_and_commit(
    conn: sqlite3.Connection,
    sql: str,
    rows: list[tuple[Any, ...]],
    *,
    queued: bool,
    tidy: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """The rest of a transaction begun with BEGIN IMMEDIATE: rolled back if it fails.
    ``queued``: the rows go into ``observations``, and into the promoter's queue too;
    ``tidy``: run before the commit."""
    try:
        if queued:
            _insert_queued(conn, sql, rows)
        else:
            conn.executemany(sql, rows)
        if tidy is not None:
            tidy(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def count(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.count()).select_from(observations)).scalar_one())
