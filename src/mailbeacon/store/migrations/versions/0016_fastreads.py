"""analytics: link previews counted apart from the other bots (preview_opens_events,
preview_clicks_events in both counter tables), recounted from the events already stored

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

COLUMNS = ("preview_opens_events", "preview_clicks_events")
TABLES = ("analytics_hourly", "analytics_daily")
# The per-dimension counters as this migration knows them (core/analytics/rollup.py DAILY):
# each value's SQL, and whether only clicks describe it (a link) or opens too.
DIMENSIONS = {
    "tag": ("m.tag", False),
    "recipient_domain": ("lower(substr(e.recipient, {find}(e.recipient, '@') + 1))", False),
    "client_name": ("e.client_name", False),
    "device_type": ("e.device_type", False),
    "classification": ("e.classification", False),
    "family": ("e.family", False),
    "proxy_type": ("e.proxy_type", False),
    "link": ("e.url", True),
    "link_index": ("CAST(e.link_index AS VARCHAR)", True),
}


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in COLUMNS:
                batch_op.add_column(
                    sa.Column(column, sa.Integer(), server_default="0", nullable=False)
                )
    _recount(op.get_bind())


def _recount(conn: sa.Connection) -> None:
    """The new counters of the rows already there, from the link previews' events: one
    grouped pass per table and dimension over those events only (there are few)."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # SQLite has no MD5 of its own: the daily key is Python's, as the writer's
        raw = conn.connection.driver_connection
        raw.create_function("md5", 1, _md5, deterministic=True)  # type: ignore[union-attr]
    hour = (
        "CAST(strftime('%s', e.at) AS INTEGER) / {s}"
        if sqlite
        else ("CAST(floor(extract(epoch FROM e.at) / {s}) AS BIGINT)")
    )
    kind = (
        "CASE WHEN coalesce(r.route_type, CASE WHEN m.transactional = {false} THEN 'broadcast' "
        "ELSE 'transactional' END) = 'broadcast' THEN 'broadcast' ELSE 'transactional' END"
    ).format(false="0" if sqlite else "false")
    counts = (
        "sum(CASE WHEN e.type = 'message.opened' THEN 1 ELSE 0 END) AS opens, "
        "sum(CASE WHEN e.type = 'message.clicked' THEN 1 ELSE 0 END) AS clicks"
    )
    previews = (
        "FROM events e JOIN messages m ON m.id = e.message_id "
        "LEFT JOIN routes r ON r.id = m.route_id "
        "WHERE e.classification = 'link_preview' AND e.type IN ({types})"
    )
    both = "'message.opened', 'message.clicked'"
    _update(
        conn,
        "analytics_hourly",
        f"SELECT e.project_id AS project_id, {hour.format(s=3600)} AS hour, "
        f"coalesce(m.route_id, 0) AS route_id, {kind} AS message_type, {counts} "
        f"{previews.format(types=both)} GROUP BY 1, 2, 3, 4",
        ("project_id", "hour", "route_id", "message_type"),
    )
    for dimension, (value, clicks_only) in DIMENSIONS.items():
        value = value.format(find="instr" if sqlite else "strpos")
        types = "'message.clicked'" if clicks_only else both
        _update(
            conn,
            "analytics_daily",
            f"SELECT e.project_id AS project_id, '{dimension}' AS dimension, "
            f"{hour.format(s=86400)} AS day, coalesce(md5({value}), '') AS value_key, "
            f"{counts} {previews.format(types=types)} GROUP BY 1, 2, 3, 4",
            ("project_id", "dimension", "day", "value_key"),
        )


def _update(conn: sa.Connection, table: str, counted: str, key: tuple[str, ...]) -> None:
    match = " AND ".join(f"{table}.{k} = s.{k}" for k in key)
    conn.exec_driver_sql(
        f"UPDATE {table} SET preview_opens_events = s.opens, preview_clicks_events = s.clicks "
        f"FROM ({counted}) AS s WHERE {match}"
    )


def _md5(value: str | None) -> str | None:
    return None if value is None else hashlib.md5(value.encode()).hexdigest()


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(COLUMNS):
                batch_op.drop_column(column)
