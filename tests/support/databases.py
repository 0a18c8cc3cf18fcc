"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL is found at MAILBEACON_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test). When it cannot be reached the PostgreSQL variants
are skipped, except with CI=true, where a missing database fails the run.

Each PostgreSQL test gets its own database, cloned from a migrated template made once per
session, so tests never see each other's rows and cloning costs tens of milliseconds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from mailbeacon.store import migrate
from mailbeacon.store.db import Database

ADMIN_URL = os.environ.get(
    "MAILBEACON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_template: str | None = None


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


def require_postgres() -> None:
    try:
        with _admin():
            pass
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _url_for(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _ensure_template() -> str:
    global _template
    if _template is None:
        name = f"mbtest_template_{os.getpid()}"
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        db = Database(_url_for(name))
        migrate.upgrade(db)
        db.dispose()
        _template = name
    return _template


def fresh_postgres() -> Iterator[str]:
    """The URL of a new, migrated PostgreSQL database, dropped afterwards."""
    require_postgres()
    template = _ensure_template()
    name = f"mbtest_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url_for(name)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_sqlite(directory: Path) -> str:
    """The URL of a new, migrated SQLite database in ``directory``."""
    url = f"sqlite:///{directory / 'mailbeacon.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    return url


def drop_template() -> None:
    global _template
    if _template is not None:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)')
        _template = None


def set_postgres_available(url: str, available: bool) -> None:
    """Make the test's own database refuse (or accept again) connections, dropping those it
    has: an outage of one database, without stopping the server others use."""
    name = make_url(url).database
    with _admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(available).lower()}')
        if not available:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def empty_postgres() -> Iterator[str]:
    """The URL of a new PostgreSQL database with no schema at all, dropped afterwards."""
    require_postgres()
    name = f"mbtest_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _url_for(name)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
