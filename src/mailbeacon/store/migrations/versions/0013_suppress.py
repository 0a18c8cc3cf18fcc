"""suppressions, tracking opt-outs, per-copy return paths and unsubscribes, bounce counters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTERS = ("hard_bounced", "soft_bounced", "suppressed", "unsubscribed")
# core/analytics/catalogue.py's new counts: a column each in both analytics counter tables
_ANALYTICS = (
    "out_of_band_bounced_recipients",
    "out_of_band_bounce_events",
    "suppressed",
    "unsubscribed",
)


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", _BIG_ID, nullable=False),
        sa.Column("project_id", _BIG_ID, nullable=True),
        sa.Column("route_id", _BIG_ID, nullable=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("applies_to", sa.String(length=16), nullable=False),
        sa.Column("source_message_id", _BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_suppressions_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_suppressions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["routes.id"],
            name=op.f("fk_suppressions_route_id_routes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["messages.id"],
            name=op.f("fk_suppressions_source_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_suppressions_public_id")),
        sa.UniqueConstraint(
            "team_id",
            "value",
            "scope_key",
            "applies_to",
            name=op.f("uq_suppressions_team_id_value_scope_key_applies_to"),
        ),
    )
    op.create_table(
        "tracking_opt_outs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("team_id", _BIG_ID, nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_tracking_opt_outs_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_opt_outs")),
        sa.UniqueConstraint("public_id", name=op.f("uq_tracking_opt_outs_public_id")),
        sa.UniqueConstraint("team_id", "value", name=op.f("uq_tracking_opt_outs_team_id_value")),
    )
    # Plain ADD COLUMN on both databases: a batch would rebuild copies on SQLite, whose
    # expression index (lower(recipient)) it cannot reflect.
    op.add_column("copies", sa.Column("envelope_from", sa.String(length=320), nullable=True))
    op.add_column("copies", sa.Column("unsubscribed_at", sa.DateTime(), nullable=True))
    for table, names in (
        ("stats_daily", _COUNTERS),
        ("analytics_hourly", _ANALYTICS),
        ("analytics_daily", _ANALYTICS),
    ):
        for name in names:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table, names in (
        ("stats_daily", _COUNTERS),
        ("analytics_hourly", _ANALYTICS),
        ("analytics_daily", _ANALYTICS),
    ):
        for name in names:
            op.drop_column(table, name)
    op.drop_column("copies", "unsubscribed_at")  # SQLite 3.35+ drops columns itself
    op.drop_column("copies", "envelope_from")
    op.drop_table("tracking_opt_outs")
    op.drop_table("suppressions")
