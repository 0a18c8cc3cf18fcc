"""indexes that grow at the end

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_copy_id_at"), ["copy_id", "at"], unique=False)

    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observations_copy_id"))
        batch_op.drop_index(batch_op.f("ix_observations_promoted_id"))
        batch_op.create_index(
            batch_op.f("ix_observations_promoted_at_us"), ["promoted", "at_us"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observations_promoted_at_us"))
        batch_op.create_index(
            batch_op.f("ix_observations_promoted_id"), ["promoted", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_observations_copy_id"), ["copy_id"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_copy_id_at"))
