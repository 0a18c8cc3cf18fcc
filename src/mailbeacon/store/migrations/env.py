"""Alembic environment: runs with the Database the caller put in config.attributes.

Several processes may migrate at once (serve and workers started together with
MAILBEACON_AUTO_MIGRATE, or `mailbeacon migrate` in every container). On PostgreSQL the
migration's transaction first takes an advisory lock, so the others wait, then find the schema
at head and do nothing; without it two ran the same DDL and one died on a UniqueViolation. On
SQLite the transaction begins IMMEDIATE (store/db.py), which serializes them the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from mailbeacon.store.schema import metadata

database = context.config.attributes["database"]

# any constant of our own, the same in every process: the key of mailbeacon's migrations
MIGRATION_LOCK = 0x6D61696C62636E  # "mailbcn"

with database.write() if database.is_sqlite else database.engine.begin() as connection:
    if not database.is_sqlite:  # held to the end of the transaction, the migration's
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=database.is_sqlite,  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
