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
from sqlalchemy.engine import make_url

__all__ = ["Database", "is_unavailable"]

# SQLite's page cache per connection, in KiB when negative (SQLite's default is 2 MiB). A
# promotion pass (workers/promoter.py) dirties some 5,000 pages (20 MiB: events, their
# indexes, the observations it marks): in 2 MiB, SQLite spilled dirty pages into the log
# mid-transaction and read evicted ones back, a third of the pass's system time (bench/promote:
# 8-10 % more observations per CPU second with 64 MiB). It is a limit, not an allocation: a
# connection holds only pages it read, and drops them all when another connection's commit
# makes them stale (WAL), so only a busy writer's connection comes near it.
SQLITE_CACHE_SIZE = -64 * 1024


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
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("begin", None)

    @property
    def sqlite_lock(self) -> threading.Lock:
        """SQLite: the in-process writers' lock, for code that writes through its own DBAPI
        connection instead of :meth:`write` (the observation writer)."""
        if not isinstance(self._write_lock, type(threading.Lock())):
            raise TypeError("only a SQLite database has a writers' lock")
        return self._write_lock

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str, synchronous: str) -> Engine:
    # LIFO: a request takes the connection used last, so sequential requests keep reusing one
    # or two of the pool's connections. Each connection keeps a page cache of its own, up to
    # SQLITE_CACHE_SIZE: handed out in turn (the pool's default), five connections each
    # filled their cache on a big read (an analytics breakdown scanning a million counter
    # rows) and the serving process grew from ~220 to ~350 MB (bench/analytics at 10 million
    # events); last-in-first-out it stays at ~230 MB, and the cache it reads is a warm one.
    # (An in-memory database has one connection per thread, no pool to order.)
    memory = make_url(url).database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        **({} if memory else {"pool_use_lifo": True}),
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions on its own: SQLAlchemy emits BEGIN (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA cache_size={SQLITE_CACHE_SIZE}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.info.get("begin", "BEGIN"))

    return engine
