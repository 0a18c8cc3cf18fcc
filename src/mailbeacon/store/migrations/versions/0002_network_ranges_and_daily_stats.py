"""network ranges and daily stats

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_ranges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_ranges")),
    )
    with op.batch_alter_table("network_ranges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_ranges_provider"), ["provider"], unique=False)

    op.create_table(
        "stats_daily",
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("route_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unique_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("clicked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unique_clicked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("effective_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("human_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("privacy_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("machine_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("machine_clicked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unique_any_opened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unique_any_clicked", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_stats_daily_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "route_id", "tag", "day", name=op.f("pk_stats_daily")
        ),
    )


def downgrade() -> None:
    op.drop_table("stats_daily")
    with op.batch_alter_table("network_ranges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_ranges_provider"))

    op.drop_table("network_ranges")
