"""promoter: a summary per copy (copy_states) instead of re-reading its events, one `first`
event per copy and type (a partial unique index), and no more copy index on events

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COPY_INDEX = [
    "copy_id",
    "at",
    "type",
    "counts_for_metrics",
    "observation_id",
    "classification",
]
# core/history.py's bits when this migration was written
ANY, COUNTED = 1, 2
CLASSIFICATIONS = ("genuine", "privacy_proxy", "security_scanner", "link_preview", "generic_bot")


def _first() -> sa.ColumnElement[bool]:
    return sa.column("first", sa.Boolean).is_(True)


def _bits(event_type: str) -> str:
    """The summary's bitmask of a copy's events of one type, as SQL both databases run: a sum
    of each bit times whether any event has it (SQLite has no bitwise OR aggregate)."""
    of_type = f"type = '{event_type}'"
    parts = [f"{ANY} * MAX(CASE WHEN {of_type} THEN 1 ELSE 0 END)"]
    parts.append(f"{COUNTED} * MAX(CASE WHEN {of_type} AND counts_for_metrics THEN 1 ELSE 0 END)")
    parts += [
        f"{4 << i} * MAX(CASE WHEN {of_type} AND classification = '{name}' THEN 1 ELSE 0 END)"
        for i, name in enumerate(CLASSIFICATIONS)
    ]
    return " + ".join(parts)


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "copy_states",
        sa.Column("copy_id", big_id, autoincrement=False, nullable=False),
        sa.Column("opens", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("clicks", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("hits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("recent", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["copy_id"],
            ["copies.id"],
            name=op.f("fk_copy_states_copy_id_copies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("copy_id", name=op.f("pk_copy_states")),
    )
    # What each copy's events have been (the window of recent hits starts empty: a burst
    # that straddles the upgrade is judged in two parts).
    op.execute(
        "INSERT INTO copy_states (copy_id, opens, clicks, hits, recent) "
        f"SELECT e.copy_id, {_bits('message.opened')}, {_bits('message.clicked')}, "
        "COUNT(*), '' FROM events e JOIN copies c ON c.id = e.copy_id "
        "WHERE e.type IN ('message.opened', 'message.clicked') GROUP BY e.copy_id"
    )
    # Promoters in several processes could both call their hit the first (issue 14): keep the
    # earliest of each copy's firsts of a type, so that the index below can be made.
    op.execute(
        'UPDATE events SET "first" = FALSE WHERE "first" IS TRUE AND id NOT IN '
        '(SELECT MIN(id) FROM events WHERE "first" IS TRUE GROUP BY copy_id, type)'
    )
    op.create_index(
        "ux_events_first",
        "events",
        ["copy_id", "type"],
        unique=True,
        sqlite_where=_first(),
        postgresql_where=_first(),
    )
    op.drop_index(op.f("ix_events_" + "_".join(COPY_INDEX)), table_name="events")


def downgrade() -> None:
    op.create_index(op.f("ix_events_" + "_".join(COPY_INDEX)), "events", COPY_INDEX)
    op.drop_index("ux_events_first", table_name="events")
    op.drop_table("copy_states")
