"""promotion: the observations waiting for the promoter in a table of their own (unpromoted),
filled as they are inserted and emptied by the promoter, instead of a flag on each
observation that marking rewrote (observations.promoted and its index go).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unpromoted",
        sa.Column("at_us", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("observation_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("at_us", "observation_id", name=op.f("pk_unpromoted")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO unpromoted (at_us, observation_id) "
        "SELECT at_us, id FROM observations WHERE NOT promoted"
    )
    op.drop_index(op.f("ix_observations_promoted_at_us"), table_name="observations")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_column("promoted")


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("promoted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE observations SET promoted = "
        "NOT EXISTS (SELECT 1 FROM unpromoted u "
        "WHERE u.at_us = observations.at_us AND u.observation_id = observations.id)"
    )
    op.create_index(op.f("ix_observations_promoted_at_us"), "observations", ["promoted", "at_us"])
    op.drop_table("unpromoted")
