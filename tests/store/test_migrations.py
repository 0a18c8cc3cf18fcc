"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import re
import warnings

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Index, text
from sqlalchemy.schema import CreateIndex

from mailbeacon.store import migrate
from mailbeacon.store.db import Database
from mailbeacon.store.schema import metadata


def test_migrations_match_the_declared_schema(db: Database) -> None:
    assert migrate.is_up_to_date(db)
    with db.engine.connect() as conn, warnings.catch_warnings():
        if db.engine.dialect.name == "sqlite":
            # SQLite's expression indexes cannot be reflected, so alembic skips them (and says
            # so): the next test compares them.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expr")
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def _special(index: Index) -> bool:
    """An index alembic cannot compare on SQLite: on an expression, or partial."""
    has_expression = any(not isinstance(e, Column) for e in index.expressions)
    return has_expression or index.dialect_options["sqlite"]["where"] is not None


def test_sqlite_expression_and_partial_indexes_are_as_declared(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        declared = {
            index.name: CreateIndex(index).compile(dialect=db.engine.dialect).string
            for table in metadata.sorted_tables
            for index in table.indexes
            if _special(index)
        }
        assert {"ix_copies_lower_recipient", "ix_events_message_id_id_people"} <= set(declared)
        with db.engine.connect() as conn:
            built = dict(
                conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")).all()
            )
    finally:
        db.dispose()

    def normal(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).strip()

    for name, sql in declared.items():
        assert normal(built[name]) == normal(sql), name
