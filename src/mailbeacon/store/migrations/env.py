"""Alembic environment: runs with the Database the caller put in config.attributes."""

from __future__ import annotations

from alembic import context

from mailbeacon.store.schema import metadata

database = context.config.attributes["database"]

with database.write() if database.is_sqlite else database.engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=database.is_sqlite,  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
