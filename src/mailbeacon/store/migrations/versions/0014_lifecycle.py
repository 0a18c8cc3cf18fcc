"""data lifecycle: link changes and their feed, erasures, retention marks, deleted projects

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))

    op.create_table(
        "link_changes",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", _BIG_ID, nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("old_url", sa.Text(), nullable=False),
        sa.Column("new_url", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_link_changes_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_changes")),
    )
    with op.batch_alter_table("link_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_changes_message_id_id"), ["message_id", "id"], unique=False
        )

    op.create_table(
        "link_invalidations",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("copy_ids", sa.JSON(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_invalidations")),
    )
    with op.batch_alter_table("link_invalidations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_invalidations_at"), ["at"], unique=False)

    op.create_table(
        "erasures",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint("public_id", name=op.f("uq_erasures_public_id")),
    )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_erasures_subject_hash"), ["subject_hash"], unique=False
        )

    op.create_table(
        "retention_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_retention_marks")),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
    op.drop_table("erasures")
    op.drop_table("link_invalidations")
    op.drop_table("link_changes")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
