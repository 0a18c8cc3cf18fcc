"""Hits from a serve process's journal (store/journal.py) into ``observations``, exactly once.

One central transaction inserts the hits of a range of journal numbers and moves the
journal's mark (``journal_marks``) to the end of the range; hits at or below the mark are
skipped, so a range shipped again (a crash after the central commit, before the journal
forgot them) inserts nothing twice. A journal is shipped by one process at a time (its file
lock), and the mark never goes back.

Two ways, one rule:

- :func:`ship` (any database, through SQLAlchemy): the hits, read from the journal by the
  caller, are inserted with one ``executemany``.
- :class:`SqliteShipping` (a SQLite central database on the same machine): the journal file is
  ATTACHed to a connection of the central database, and one ``INSERT ... SELECT`` copies the
  range inside SQLite, never passing the rows through Python: on one core shared with the
  redirect path, the copy costs a click about a microsecond instead of several.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from .checkpoints import WalCheckpointer
from .db import Database
from .journal import HIT_COLUMNS
from .observations import QUEUE_SINCE, insert_hits

__all__ = ["SqliteShipping", "ship", "shipped_up_to"]

_COLUMNS = ", ".join(HIT_COLUMNS)


def _move_mark(dialect: str, marker: str) -> str:
    bigger = "GREATEST" if dialect == "postgresql" else "max"
    return (
        f"INSERT INTO journal_marks (journal, shipped_seq) VALUES ({marker}, {marker}) "
        f"ON CONFLICT (journal) DO UPDATE SET "
        f"shipped_seq = {bigger}(journal_marks.shipped_seq, excluded.shipped_seq)"
    )


def shipped_up_to(conn: Connection, source: int, *, lock: bool = False) -> int:
    """The journal's mark: its hits up to this number are in ``observations`` (0: none)."""
    sql = "SELECT shipped_seq FROM journal_marks WHERE journal = "
    sql += "%s" if conn.dialect.name == "postgresql" else "?"
    if lock and conn.dialect.name == "postgresql":
        sql += " FOR UPDATE"
    found = conn.exec_driver_sql(sql, (source,)).scalar()
    return int(found or 0)


def ship(conn: Connection, source: int, hits: list[tuple[Any, ...]], up_to: int) -> int:
    """Insert ``hits`` (``(seq, *HIT_COLUMNS)``, numbered up to ``up_to``) not yet shipped,
    and move the mark to ``up_to``, in the caller's transaction; how many were inserted."""
    dialect = conn.dialect.name
    marker = "%s" if dialect == "postgresql" else "?"
    mark = shipped_up_to(conn, source, lock=True)
    rows = [hit[1:] for hit in hits if hit[0] > mark]
    insert_hits(conn, rows)  # each queued for the promoter
    conn.exec_driver_sql(_move_mark(dialect, marker), (source, up_to))
    return len(rows)


class SqliteShipping:
    """A connection of the central SQLite database with the journal attached as ``journal``."""

    def __init__(self, db: Database, journal_file: Path) -> None:
        self._db = db
        self._journal_file = journal_file
        self._conn: sqlite3.Connection | None = None
        # its connection never checkpoints (a commit would wait for an fsync): this does
        self._checkpointer = WalCheckpointer(db)

    def ship(self, source: int, up_to: int) -> int:
        """Copy the journal's hits after the mark up to ``up_to`` and move the mark, in one
        transaction of the central database; how many were inserted. Waits for the write
        lock as every writer does (busy_timeout), holding no lock of the journal: BEGIN is
        deferred, so the journal is only read (WAL: its writer goes on)."""
        conn = self._connect()
        with self._db.sqlite_lock:
            conn.execute("BEGIN")
            try:
                copied = conn.execute(
                    f"INSERT INTO main.observations ({_COLUMNS}) "
                    f"SELECT {_COLUMNS} FROM journal.hits WHERE seq > coalesce("
                    "(SELECT shipped_seq FROM main.journal_marks WHERE journal = ?), 0) "
                    "AND seq <= ? ORDER BY seq",
                    (source, up_to),
                )
                inserted = copied.rowcount
                if inserted > 0:
                    # under the write lock, one statement's rows take consecutive ids up to
                    # the last: each is queued for the promoter (store/schema.py unpromoted)
                    assert copied.lastrowid is not None
                    conn.execute(QUEUE_SINCE, (copied.lastrowid - inserted,))
                conn.execute(_move_mark("sqlite", "?"), (source, up_to))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._checkpointer.wrote()
        return int(inserted)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._checkpointer.stop()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            pooled = self._db.engine.raw_connection()
            dbapi: Any = pooled.dbapi_connection
            pooled.detach()  # its own: it has the journal attached
            assert isinstance(dbapi, sqlite3.Connection)
            dbapi.execute("PRAGMA wal_autocheckpoint=0")  # store/checkpoints.py's job
            dbapi.execute("ATTACH DATABASE ? AS journal", (str(self._journal_file),))
            self._conn = dbapi
            self._checkpointer.start()
        return self._conn
