"""analytics: events.firsts (which engagement classes an event is its copy's first of), the
promoter's covering index on events carrying the classification it reads to decide them, and
the hourly and the per-dimension daily analytics counters; indexes that make a range of days
of stats_daily an index range

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD = ["copy_id", "at", "type", "counts_for_metrics", "observation_id"]
NEW = [*OLD, "classification"]
# the catalogue's counts when this migration was written (core/analytics/catalogue.py)
COUNTS = [
    "messages",
    "accepted",
    "processed",
    "delivered",
    "bounced",
    "soft_bounced",
    "transport_outcome_recipients",
    "open_tracked_delivered",
    "click_tracked_delivered",
    *(
        f"{name}_{kind}{events}"
        for name in ("human", "privacy", "bot", "scanner", "machine", "observed")
        for kind in ("opens", "clicks")
        for events in ("", "_events")
    ),
]


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("firsts", sa.SmallInteger(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_events_" + "_".join(OLD)))
        batch_op.create_index(batch_op.f("ix_events_" + "_".join(NEW)), NEW, unique=False)
    with op.batch_alter_table("stats_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stats_daily_project_id_day"), ["project_id", "day"])
        batch_op.create_index(
            batch_op.f("ix_stats_daily_project_id_tag_day"), ["project_id", "tag", "day"]
        )
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "analytics_hourly",
        sa.Column("project_id", big_id, nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("route_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COUNTS),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_analytics_hourly_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "hour", "route_id", "message_type", name=op.f("pk_analytics_hourly")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "analytics_daily",
        sa.Column("project_id", big_id, nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value_key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COUNTS),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_analytics_daily_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "dimension", "day", "value_key", name=op.f("pk_analytics_daily")
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("analytics_daily")
    op.drop_table("analytics_hourly")
    with op.batch_alter_table("stats_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_daily_project_id_tag_day"))
        batch_op.drop_index(batch_op.f("ix_stats_daily_project_id_day"))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_" + "_".join(NEW)))
        batch_op.create_index(batch_op.f("ix_events_" + "_".join(OLD)), OLD, unique=False)
        batch_op.drop_column("firsts")
