"""the events' copy index covers what the promoter reads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NEW = ["copy_id", "at", "type", "counts_for_metrics", "observation_id"]


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_copy_id_at"))
        batch_op.create_index(batch_op.f("ix_events_" + "_".join(NEW)), NEW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_" + "_".join(NEW)))
        batch_op.create_index(batch_op.f("ix_events_copy_id_at"), ["copy_id", "at"], unique=False)
