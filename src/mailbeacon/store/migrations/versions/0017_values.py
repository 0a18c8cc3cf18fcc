"""analytics: each value's all-time totals (analytics_values), so a top-N breakdown stops
reading once no later value can enter it; a value's days indexed in analytics_daily. Filled
from the daily counters already there.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KEY = ("project_id", "dimension", "day", "value_key", "value")
RANKED = ("delivered", "human_opens", "human_clicks", "human_opens_events", "human_clicks_events")


def upgrade() -> None:
    conn = op.get_bind()
    # the counters as analytics_daily has them at this revision: the totals hold the same
    counters = [
        column["name"]
        for column in sa.inspect(conn).get_columns("analytics_daily")
        if column["name"] not in KEY
    ]
    op.create_index(
        op.f("ix_analytics_daily_project_id_dimension_value_key_day"),
        "analytics_daily",
        ["project_id", "dimension", "value_key", "day"],
    )
    op.create_table(
        "analytics_values",
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("value_key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("first_day", sa.Integer(), nullable=False),
        sa.Column("last_day", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in counters),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_analytics_values_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "dimension", "value_key", name=op.f("pk_analytics_values")
        ),
        sqlite_with_rowid=False,
    )
    sums = ", ".join(f"sum({name})" for name in counters)
    # max(value): every row of a key holds the same value (the key is its hash)
    conn.exec_driver_sql(
        f"INSERT INTO analytics_values (project_id, dimension, value_key, value, first_day, "
        f"last_day, {', '.join(counters)}) "
        f"SELECT project_id, dimension, value_key, max(value), min(day), max(day), {sums} "
        f"FROM analytics_daily GROUP BY project_id, dimension, value_key"
    )
    # the indexes after the rows: one sort each instead of a B-tree insert per row
    op.create_index(
        op.f("ix_analytics_values_project_id_dimension_last_day_first_day"),
        "analytics_values",
        ["project_id", "dimension", "last_day", "first_day"],
    )
    for name in RANKED:
        op.create_index(
            f"ix_analytics_values_{name}",
            "analytics_values",
            ["project_id", "dimension", name, "value_key"],
        )


def downgrade() -> None:
    op.drop_table("analytics_values")
    op.drop_index(
        op.f("ix_analytics_daily_project_id_dimension_value_key_day"), table_name="analytics_daily"
    )
