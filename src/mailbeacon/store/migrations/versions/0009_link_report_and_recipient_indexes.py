"""indexes for the recipient filter, a message's event pages and its per-link report

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LINK_REPORT = ["message_id", "type", "link_index", "copy_id", "counts_for_metrics", "machine"]
# Lettermint's client names for ua-parser's (core/verdicts/useragent.py, LETTERMINT_NAMES, as
# of this revision): events already stored take the names new events get.
CLIENT_NAMES = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Apple Mail",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera Mini": "Opera",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "Microsoft Outlook": "Outlook",
    "YahooMobileMail": "Yahoo Mail",
    "GmailImageProxy": "Gmail",
    "YahooMailProxy": "Yahoo Mail",
}


def _machine(dialect: str) -> sa.TextClause:
    # The very text SQLAlchemy renders for events.c.machine.is_not(True) (store/schema.py).
    return sa.text("machine IS NOT 1" if dialect == "sqlite" else "machine IS NOT true")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copies_recipient"))
    op.create_index("ix_copies_lower_recipient", "copies", [sa.text("lower(recipient)")])
    op.create_index("ix_events_link_report", "events", LINK_REPORT)
    op.create_index(
        "ix_events_message_id_id_people",
        "events",
        ["message_id", "id"],
        sqlite_where=_machine(dialect),
        postgresql_where=_machine(dialect),
    )
    events = sa.table("events", sa.column("client_name", sa.String))
    renamed = sa.case(CLIENT_NAMES, value=events.c.client_name)
    op.execute(  # one pass over the table, whatever the number of names
        events.update()
        .where(events.c.client_name.in_(list(CLIENT_NAMES)))
        .values(client_name=renamed)
    )


def downgrade() -> None:
    op.drop_index("ix_events_message_id_id_people", "events")
    op.drop_index("ix_events_link_report", "events")
    op.drop_index("ix_copies_lower_recipient", "copies")
    with op.batch_alter_table("copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copies_recipient"), ["recipient"], unique=False)
