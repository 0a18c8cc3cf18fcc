"""events.firsts: which engagement classes an event is its copy's first of (analytics); the
promoter's covering index on events carries the classification it reads to decide them

Revision ID: 0008_analytics
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_analytics"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = ["copy_id", "at", "type", "counts_for_metrics", "observation_id"]
NEW = [*OLD, "classification"]


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("firsts", sa.SmallInteger(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_events_" + "_".join(OLD)))
        batch_op.create_index(batch_op.f("ix_events_" + "_".join(NEW)), NEW, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_" + "_".join(NEW)))
        batch_op.create_index(batch_op.f("ix_events_" + "_".join(OLD)), OLD, unique=False)
        batch_op.drop_column("firsts")
