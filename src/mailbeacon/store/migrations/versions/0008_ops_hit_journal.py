"""observations shipped from a serve process's hit journal are keyed by (journal, journal_seq)

Revision ID: 0008_ops
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ops"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journal", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("journal_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_observations_journal_journal_seq"),
            ["journal", "journal_seq"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observations_journal_journal_seq"))
        batch_op.drop_column("journal_seq")
        batch_op.drop_column("journal")
