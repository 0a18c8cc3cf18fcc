"""links' clicks as counters (link_clicks) the promoter adds to, with each copy's clicked
links in its summary (copy_states.linked), instead of the index every event entered for the
per-link report (ix_events_link_report). Both filled from the events already there.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import itertools
import warnings

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

LINK_REPORT = ["message_id", "type", "link_index", "copy_id", "counts_for_metrics", "machine"]
BATCH = 10_000  # copy summaries updated per executemany

# Each copy's clicks of each link of its message: countable ones, machine ones. The join with
# links leaves out indexes that are not a link of the message, as the report did.
_PER_COPY = (
    "SELECT e.message_id AS message_id, e.link_index AS link_index, e.copy_id AS copy_id, "
    "SUM(CASE WHEN e.counts_for_metrics THEN 1 ELSE 0 END) AS human, "
    "SUM(CASE WHEN e.machine THEN 1 ELSE 0 END) AS machine "
    "FROM events e JOIN links l "
    "ON l.message_id = e.message_id AND l.link_index = e.link_index "
    "WHERE e.type = 'message.clicked' "
    "GROUP BY e.message_id, e.link_index, e.copy_id"
)


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "link_clicks",
        sa.Column("message_id", big_id, nullable=False),
        sa.Column("link_index", sa.Integer(), autoincrement=False, nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            for name in ("human", "human_events", "machine", "machine_events")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_link_clicks_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "link_index", name=op.f("pk_link_clicks")),
    )
    op.execute(
        "INSERT INTO link_clicks (message_id, link_index, human, human_events, machine, "
        "machine_events) SELECT message_id, link_index, "
        "SUM(CASE WHEN human > 0 THEN 1 ELSE 0 END), SUM(human), "
        "SUM(CASE WHEN machine > 0 THEN 1 ELSE 0 END), SUM(machine) "
        f"FROM ({_PER_COPY}) AS per_copy GROUP BY message_id, link_index "
        "HAVING SUM(human) + SUM(machine) > 0"
    )
    # A plain ADD COLUMN on SQLite too: batch mode would reflect the table's neighbours.
    op.add_column("copy_states", sa.Column("linked", sa.Text(), server_default="", nullable=False))
    _fill_linked(op.get_bind())
    op.drop_index("ix_events_link_report", table_name="events")


def _fill_linked(conn: sa.Connection) -> None:
    """Each copy's clicked links, as core/history.py keeps them: "HUMAN:MACHINE", bitmasks
    of link indexes in hex. Copies that are gone have no summary to update."""
    rows = conn.execute(
        sa.text(
            f"SELECT copy_id, link_index, human, machine FROM ({_PER_COPY}) AS per_copy "
            "WHERE copy_id IS NOT NULL AND (human > 0 OR machine > 0) ORDER BY copy_id"
        )
    )
    update = sa.text("UPDATE copy_states SET linked = :linked WHERE copy_id = :copy_id")
    pending: list[dict[str, object]] = []
    for copy_id, clicked in itertools.groupby(rows, key=lambda row: row[0]):
        human = machine = 0
        for _, link, people, robots in clicked:
            human |= (1 << link) if people else 0
            machine |= (1 << link) if robots else 0
        pending.append({"copy_id": copy_id, "linked": f"{human:x}:{machine:x}"})
        if len(pending) >= BATCH:
            conn.execute(update, pending)
            pending = []
    if pending:
        conn.execute(update, pending)


def downgrade() -> None:
    op.create_index("ix_events_link_report", "events", LINK_REPORT)
    with warnings.catch_warnings():  # SQLite copies the table, reflecting copies' indexes
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
        with op.batch_alter_table("copy_states", schema=None) as batch_op:
            batch_op.drop_column("linked")
    op.drop_table("link_clicks")
