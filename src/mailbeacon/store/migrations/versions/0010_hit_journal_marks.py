"""journal_marks: how far each serve process's hit journal is shipped into observations;
webhook deliveries held now, counted per webhook by claims

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_marks",
        sa.Column("journal", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("shipped_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("journal", name=op.f("pk_journal_marks")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_webhook_id_lease_until"),
            ["webhook_id", "lease_until"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_webhook_id_lease_until"))
    op.drop_table("journal_marks")
