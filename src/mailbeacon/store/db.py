"""The database handle: an engine, and the discipline for using it from threads.

- SQLite: WAL (readers never block the writer), foreign keys on, a page cache that holds a
  promotion pass (``SQLITE_CACHE_SIZE``), and one writer at a time in this process (a lock, as
  datasette's single write thread) with ``BEGIN IMMEDIATE`` so that writers in other processes
  queue on the lock instead of failing on upgrade.
- PostgreSQL (psycopg 3): a connection pool; writers run concurrently.

Queries are plain functions taking a ``Connection`` (see the sibling modules); this class only
hands out connections: :meth:`read` and :meth:`write` (a transaction).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url

from ..core.analytics.rollup import value_key

__all__ = ["Database", "is_unavailable"]

# SQLite's page cache per connection, in KiB when negative (SQLite's default is 2 MiB). A
# promotion pass (workers/promoter.py) dirties some 5,000 pages (20 MiB: events, their
# indexes, the observations it marks): in 2 MiB, SQLite spilled dirty pages into the log
# mid-transaction and read evicted ones back, a third of the pass's system time (bench/promote:
# 8-10 % more observations per CPU second with 64 MiB). So a write transaction gets 64 MiB,
# and the connection goes back to SQLITE_READ_CACHE_SIZE when it ends (SQLite frees the pages
# beyond it then): a pooled connection keeps the pages it read until another connection's
# commit makes them stale, so with 64 MiB everywhere each of the pool's connections that had
# read a large message body held it (a 20 MB body read by three connections: 60 MB kept).
SQLITE_CACHE_SIZE = -64 * 1024
SQLITE_READ_CACHE_SIZE = -8 * 1024

# SQLite keeps a private copy of every value bound to a prepared statement until the statement
# is bound again or finalised, and Python's sqlite3 caches up to 128 prepared statements per
# connection without ever clearing their bindings: a 20 MB message body inserted once stayed
# in memory for as long as its pooled connection lived (three 20 MB sends grew a serve from
# 114 to 953 MB). A connection that bound a value this large is closed when it goes back to
# the pool, which frees its statements, their bindings and its page cache at once; reopening
# one costs far less than the write that caused it.
LARGE_BOUND_VALUE = 256 * 1024


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now (refused or dropped
    connections, a pool timeout, SQLite's lock held too long, a full disk), as opposed to a
    bug in a query: the driver's OperationalError and InterfaceError, SQLAlchemy's pool
    timeout, and any error that invalidated its connection. The one place that knows the
    drivers' vocabulary (web/errors.py, the tracking path and /readyz ask it)."""
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
    return isinstance(error, sa_exc.TimeoutError)


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "normal",
        pool_size: int = 5,
        max_overflow: int = 5,
    ) -> None:
        """``pool_size`` and ``max_overflow``: PostgreSQL's connections per process (the
        settings DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW; their defaults are these)."""
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        self.sqlite_synchronous = sqlite_synchronous.lower()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(
                parsed.render_as_string(hide_password=False), sqlite_synchronous
            )
            self._write_lock: contextlib.AbstractContextManager[Any] = threading.Lock()
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                parsed,
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_pre_ping=True,
                # a dead server answers nothing: fail (and answer 503) instead of hanging
                connect_args={"connect_timeout": 5},
            )
            self._write_lock = contextlib.nullcontext()
        else:
            raise ValueError(f"unsupported database {parsed.drivername!r}")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on an exception."""
        with self._write_lock, self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["begin"] = "BEGIN IMMEDIATE"
                _pragma(conn, f"cache_size={SQLITE_CACHE_SIZE}")
            try:
                with conn.begin():
                    yield conn
            finally:
                if self.is_sqlite:
                    conn.info.pop("begin", None)
                    if not conn.invalidated:
                        _pragma(conn, f"cache_size={SQLITE_READ_CACHE_SIZE}")

    @property
    def sqlite_lock(self) -> threading.Lock:
        """SQLite: the in-process writers' lock, for code that writes through its own DBAPI
        connection instead of :meth:`write` (the observation writer)."""
        if not isinstance(self._write_lock, type(threading.Lock())):
            raise TypeError("only a SQLite database has a writers' lock")
        return self._write_lock

    def dispose(self) -> None:
        self.engine.dispose()


def _pragma(conn: Connection, pragma: str) -> None:
    # Through the driver: on the Connection it would begin SQLAlchemy's transaction.
    conn.connection.driver_connection.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler with table hints: ``select(...).with_hint(table, "INDEXED BY ix",
    "sqlite")`` names the index a query must use (SQLAlchemy's own drops them). SQLite plans
    without statistics (nothing runs ANALYZE), and picks a wide range of a primary key over
    a narrow index at times: the analytics counters name theirs (store/analytics_top.py)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    # LIFO: a request takes the connection used last, so sequential requests keep reusing one
    # or two of the pool's connections. Each connection keeps a page cache of its own, up to
    # SQLITE_READ_CACHE_SIZE: handed out in turn (the pool's default), five connections each
    # filled their cache on a big read (an analytics breakdown scanning a million counter
    # rows) and the serving process grew from ~220 to ~350 MB (bench/analytics at 10 million
    # events, when each kept 64 MiB); last-in-first-out it stays at ~230 MB, and the cache it
    # reads is a warm one.
    # (An in-memory database has one connection per thread, no pool to order.)
    memory = make_url(url).database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        **({} if memory else {"pool_use_lifo": True}),
    )

    engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions on its own: SQLAlchemy emits BEGIN (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA cache_size={SQLITE_READ_CACHE_SIZE}")
        cursor.close()
        # PostgreSQL's md5(), which SQLite lacks: the analytics counters key values by it
        dbapi_connection.create_function("md5", 1, _md5, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))

    @event.listens_for(engine, "after_cursor_execute")
    def _note_large_values(
        conn: Connection, _cursor: Any, _sql: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        # Only the last row of an executemany stays bound, so only it is looked at.
        bound = parameters[-1] if many and parameters else parameters
        if bound and _holds_large_value(bound):
            conn.info["retire"] = True

    @event.listens_for(engine, "checkin")
    def _retire(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("retire", False):
            record.invalidate()

    return engine


def _md5(value: str | None) -> str | None:
    return None if value is None else value_key(value)


def _holds_large_value(bound: Any) -> bool:
    values = bound.values() if isinstance(bound, dict) else bound
    return any(
        isinstance(value, (str, bytes, memoryview)) and len(value) > LARGE_BOUND_VALUE
        for value in values
    )
