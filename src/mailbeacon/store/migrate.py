"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..core.errors import NotMigrated
from .db import Database

__all__ = ["current_revision", "head_revision", "is_up_to_date", "open_database", "upgrade"]


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", "mailbeacon.store:migrations")
    config.attributes["database"] = db
    return config


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(_config(db)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(db: Database) -> bool:
    return current_revision(db) == head_revision(db)


def upgrade(db: Database, revision: str = "head") -> None:
    command.upgrade(_config(db), revision)


def open_database(
    url: str,
    *,
    sqlite_synchronous: str,
    migrate: bool = False,
    db: Database | None = None,
    pool_size: int = 5,
    max_overflow: int = 5,
) -> Database:
    """The database at ``url`` (or ``db``), its schema checked: every entry point opens it
    here. With ``migrate``, pending migrations are applied; without, a schema that is not this
    version's raises :class:`NotMigrated` saying what to run."""
    opened = db or Database(
        url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size, max_overflow=max_overflow
    )
    if is_up_to_date(opened):
        return opened
    if migrate:
        upgrade(opened)
        return opened
    current, needed = current_revision(opened), head_revision(opened)
    if db is None:
        opened.dispose()
    raise NotMigrated(
        f"the database ({opened.describe()}) is at schema revision {current or 'empty'}, this "
        f"version needs {needed}: run `mailbeacon migrate` first (or pass --migrate, or set "
        "MAILBEACON_AUTO_MIGRATE=true)",
        current=current,
        needed=needed,
    )
