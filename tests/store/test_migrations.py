"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mailbeacon.store import migrate
from mailbeacon.store.db import Database
from mailbeacon.store.schema import metadata


def test_migrations_match_the_declared_schema(db: Database) -> None:
    assert migrate.is_up_to_date(db)
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
