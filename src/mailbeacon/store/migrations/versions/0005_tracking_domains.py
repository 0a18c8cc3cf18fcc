"""tracking domains

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_domains",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tracking_domains_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_tracking_domains_domain")),
        sa.UniqueConstraint("public_id", name=op.f("uq_tracking_domains_public_id")),
    )
    with op.batch_alter_table("tracking_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_domains_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracking_domains_status_next_check_at"),
            ["status", "next_check_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tracking_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_domains_status_next_check_at"))
        batch_op.drop_index(batch_op.f("ix_tracking_domains_project_id"))

    op.drop_table("tracking_domains")
