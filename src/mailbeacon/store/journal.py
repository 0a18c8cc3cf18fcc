"""The hit journal: a SQLite file of the serving process's own, where a hit is durable before it
is answered (DESIGN.md, invariant 4).

The redirect path writes each hit here (store/observations.py's group commit, unchanged: only
its table differs), never to the central database, so a click waits neither for PostgreSQL nor
for another process holding SQLite's write lock. service/shipper.py moves the hits to the
central ``observations`` table in batches, exactly once: each journal has a random 63-bit
``source`` and numbers its hits with ``seq`` (``AUTOINCREMENT``: a number is never used twice,
even after the rows before it were shipped and deleted), and ``observations`` holds
``(journal, journal_seq)`` under a unique index, so a batch shipped again after a crash
between the central commit and the local delete is ignored.

The file also keeps every message's link destinations this process has known (``links``,
``link_copies``), so that a link served before a restart still redirects while the central
database is away (service/links.py).

One process per file: the file is locked (``flock``) while a process uses it, and its name
carries the HTTP port (``hits-8025.sqlite3``), so that a restarted serve finds, and replays,
the hits its previous run left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import ConfigError
from .db import Database
from .observations import HIT_COLUMNS

__all__ = ["HIT_COLUMNS", "Journal", "journal_path"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hits (seq INTEGER PRIMARY KEY, "
    "copy_id INTEGER NOT NULL, kind INTEGER NOT NULL, link_index INTEGER NOT NULL, "
    "at_us INTEGER NOT NULL, method TEXT NOT NULL, host TEXT NOT NULL, ip TEXT, "
    "user_agent TEXT NOT NULL, headers TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS links (message_id INTEGER PRIMARY KEY, urls TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS link_copies (copy_id INTEGER PRIMARY KEY, "
    "message_id INTEGER NOT NULL)",
)

# A commit that checkpoints waits for an fsync while holding the journal's write lock, which
# clicks would wait for: the observation writer's WalCheckpointer checkpoints instead.
_NO_AUTOCHECKPOINT = "PRAGMA wal_autocheckpoint=0"
_FORGET = "DELETE FROM hits WHERE seq < ?"
_MARK = (
    "INSERT INTO meta (name, value) VALUES ('shipped', ?) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
# Shipped hits deleted at most this many at a time inside a commit of clicks (see tidy()).
FORGET_CHUNK = 500


def journal_path(directory: str, port: int) -> Path:
    return Path(directory) / f"hits-{port}.sqlite3"


class Journal:
    """The journal file: its database (for the observation writer), its identity, and the
    shipper's and the link cache's reads and deletes."""

    def __init__(self, path: Path, *, synchronous: str = "normal") -> None:
        self.path = path
        self.db = Database(f"sqlite:///{path}", sqlite_synchronous=synchronous)
        self.insert_sql = (
            f"INSERT INTO hits ({', '.join(HIT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(HIT_COLUMNS))})"
        )
        self.source = 0  # set by open()
        self.shipped = 0  # its hits up to this seq are in the central database (locally known)
        self._forget_below = 0  # shipped hits below this seq may be deleted (tidy, forget)
        self._forgotten_below = 0  # ... and those below this one are (as far as known)
        self._lock_file: TextIO | None = None

    def open(self) -> int:
        """Lock the file for this process, create its tables, and return how many hits may
        wait in it (left by a previous run: the shipper replays them first; some of them may
        have reached the central database just before a crash, which its mark says)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_suffix(".lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ConfigError(
                f"MAILBEACON_JOURNAL_DIR: another process uses the hit journal {self.path}; "
                "give each serve process its own port or journal directory",
                variable="MAILBEACON_JOURNAL_DIR",
            ) from None
        self._lock_file = lock
        try:
            with self.db.write() as conn:
                for statement in _SCHEMA:
                    conn.exec_driver_sql(statement)
                found = conn.exec_driver_sql(
                    "SELECT value FROM meta WHERE name = 'source'"
                ).scalar()
                if found is None:
                    found = str(secrets.randbits(62) + 1)  # positive, fits a BIGINT
                    conn.exec_driver_sql(
                        "INSERT INTO meta (name, value) VALUES ('source', ?)", (found,)
                    )
                shipped = conn.exec_driver_sql("SELECT value FROM meta WHERE name = 'shipped'")
                self.shipped = int(shipped.scalar() or 0)
                self._forget_below = self._forgotten_below = self.shipped
            self.source = int(found)
            return self.newest() - self.shipped
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.db.dispose()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def delete(self) -> None:
        """Remove a journal that is all shipped (another process's, adopted): its files go
        while this process still holds the lock, then the lock."""
        self.db.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.with_suffix(".lock").unlink(missing_ok=True)
        self.close()

    # --- the shipper ------------------------------------------------------------------------

    def newest(self) -> int:
        """The ``seq`` of the last hit journalled (0: none ever)."""
        with self._raw() as conn:
            return int(conn.execute("SELECT max(seq) FROM hits").fetchone()[0] or 0)

    def after(self, seq: int, up_to: int) -> list[tuple[Any, ...]]:
        """The hits after ``seq`` up to ``up_to``, oldest first: ``(seq, *HIT_COLUMNS)``."""
        with self._raw() as conn:
            found: list[tuple[Any, ...]] = conn.execute(
                f"SELECT seq, {', '.join(HIT_COLUMNS)} FROM hits WHERE seq > ? AND seq <= ? "
                "ORDER BY seq",
                (seq, up_to),
            ).fetchall()
        return found

    def forget(self, up_to: int) -> None:
        """The hits up to ``seq`` ``up_to`` are in the central database: delete them, but the
        last (see the module docstring), and remember how far, now. For a journal no process
        writes to (an adopted one, or at the end); the live one's go with its writer's
        commits (:meth:`forget_later`)."""
        self.forget_later(up_to)
        with self.db.write() as conn:
            conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
            conn.exec_driver_sql(_FORGET, (up_to,))
            conn.exec_driver_sql(_MARK, (str(up_to),))
            # under the lock: a commit of clicks must not move the mark back after this one
            self._forgotten_below = max(self._forgotten_below, up_to)

    def forget_later(self, up_to: int) -> None:
        """The hits up to ``seq`` ``up_to`` are in the central database: the next batches
        start after it, and :meth:`tidy` deletes them (but the last) within the commits of
        the hits that come next.

        The shipper used to delete each batch it shipped in a transaction of its own, holding
        the journal's write lock while clicks' commits waited for it: 1.8-2.7 ms a batch at
        the median, 6.5 at the 90th percentile and up to 13 (its thread shared the core, and
        the GIL, with the loop that answers clicks), ten times a second under load; the
        redirect's p99 was mostly those waits (bench/redirect)."""
        self.shipped = max(self.shipped, up_to)
        self._forget_below = max(self._forget_below, up_to)

    def tidy(self, conn: sqlite3.Connection) -> None:
        """Inside a transaction of the observation writer (a DBAPI connection of this file,
        its write lock held): delete up to :data:`FORGET_CHUNK` of the shipped hits, oldest
        first, and move the mark, so that a click's commit carries a share of the deleting
        (a few hundred microseconds) instead of waiting for all of it. If that commit fails,
        the next one's delete covers these rows too (it deletes every row below its end)."""
        start, target = self._forgotten_below, self._forget_below
        if target <= start:
            return
        end = min(target, start + FORGET_CHUNK)
        conn.execute(_FORGET, (end,))
        conn.execute(_MARK, (str(end),))
        self._forgotten_below = end

    @property
    def unforgotten(self) -> int:
        """Shipped hits still kept in the file, as far as known (for tests and the end)."""
        return self._forget_below - self._forgotten_below

    # --- links ------------------------------------------------------------------------------

    def keep_links(self, entries: Iterable[tuple[int, Sequence[int], Sequence[str]]]) -> None:
        """Remember (message id, copy ids, destinations); a message already kept keeps its
        entry (a change after sending comes through :meth:`replace_links`)."""
        messages: list[tuple[int, str]] = []
        copies: list[tuple[int, int]] = []
        for message_id, copy_ids, urls in entries:
            messages.append((message_id, json.dumps(list(urls))))
            copies.extend((copy_id, message_id) for copy_id in copy_ids)
        if not messages:
            return
        with self.db.write() as conn:
            conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
            conn.exec_driver_sql("INSERT OR IGNORE INTO links VALUES (?, ?)", messages)
            if copies:
                conn.exec_driver_sql("INSERT OR IGNORE INTO link_copies VALUES (?, ?)", copies)

    def known_links(self, message_ids: Iterable[int]) -> set[int]:
        """Which of these messages' links the journal holds."""
        wanted = list(message_ids)
        found: set[int] = set()
        with self._raw() as conn:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(
                    f"SELECT message_id FROM links WHERE message_id IN ({marks})", part
                ).fetchall()
                found.update(row[0] for row in rows)
        return found

    def replace_links(self, fresh: dict[int, Sequence[str]]) -> None:
        """Messages' links changed after sending (service/link_feed.py): their destinations
        now. Written over what is kept, and kept for messages not yet written, so that a
        stale entry of :meth:`keep_links` (which never overwrites) cannot come after it."""
        if not fresh:
            return
        rows = [(m, json.dumps(list(urls))) for m, urls in fresh.items()]
        with self.db.write() as conn:
            conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
            conn.exec_driver_sql("INSERT OR REPLACE INTO links VALUES (?, ?)", rows)

    def anonymise_hits(self, copy_ids: Iterable[int]) -> None:
        """An erased recipient's hits still waiting here lose their personal fields (client
        address, user agent, headers) before they are shipped."""
        rows = [(copy_id,) for copy_id in copy_ids]
        if rows:
            with self.db.write() as conn:
                conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
                conn.exec_driver_sql(
                    "UPDATE hits SET ip = NULL, user_agent = '', headers = '{}' WHERE copy_id = ?",
                    rows,
                )

    def forget_links(self) -> None:
        """Every destination kept: the process missed changes it can no longer read (it was
        down longer than the feed keeps them); links are read again from the database."""
        with self.db.write() as conn:
            conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
            conn.exec_driver_sql("DELETE FROM links")
            conn.exec_driver_sql("DELETE FROM link_copies")

    def feed_mark(self) -> int | None:
        """How far this journal's process has followed the link feed; None: a new journal."""
        with self._raw() as conn:
            found = conn.execute("SELECT value FROM meta WHERE name = 'link_feed'").fetchone()
        return None if found is None else int(found[0])

    def set_feed_mark(self, last_id: int) -> None:
        with self.db.write() as conn:
            conn.exec_driver_sql(_NO_AUTOCHECKPOINT)
            conn.exec_driver_sql(
                "INSERT INTO meta (name, value) VALUES ('link_feed', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(last_id),),
            )

    def links_of(self, copy_id: int) -> tuple[int, list[str]] | None:
        """(message id, destinations) of a copy this process has known, or None."""
        with self._raw() as conn:
            found = conn.execute(
                "SELECT l.message_id, l.urls FROM link_copies c JOIN links l "
                "ON l.message_id = c.message_id WHERE c.copy_id = ?",
                (copy_id,),
            ).fetchone()
        if found is None:
            return None
        return int(found[0]), list(json.loads(found[1]))

    @contextlib.contextmanager
    def _raw(self) -> Iterator[Any]:
        """A DBAPI connection from the pool, for reads: SQLAlchemy's Connection costs more
        than these small queries."""
        pooled = self.db.engine.raw_connection()
        try:
            yield pooled.dbapi_connection
        finally:
            pooled.close()
