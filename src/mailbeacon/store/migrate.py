"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from .db import Database

__all__ = ["current_revision", "head_revision", "is_up_to_date", "upgrade"]


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
