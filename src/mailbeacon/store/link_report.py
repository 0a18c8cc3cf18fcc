"""One message's links with their clicks, by people and by machines: the per-link report of
``GET /v1/messages/{id}``, kept as counters (``link_clicks``).

The promoter adds to them as it writes the click events (:func:`add`, in the same
transaction), one upsert per link a pass saw clicked, so the report reads a message's few
counter rows however many clicks it has had. Counting them from the events took an index of
six columns (message, type, link, copy, countable, machine) that every event entered at a
random page: the costliest of the promoter's inserts (bench/promote/event_indexes.py), for a
read that comes once per API call. Whether a click is its recipient's first on the link, by
a person or by a machine, is the promoter's to know: its copy summary keeps the links each
copy has clicked (core/history.py).

The names follow Lettermint's analytics metrics: a plain count is of recipients
(``human_clicks``: how many recipients clicked the link, each once), an ``_events`` count is
of clicks. "Human" is a click that counts for metrics (Lettermint's human-countable click),
"machine" one that no person caused (a scanner, a link preview, a bot); a click can be
neither (a privacy proxy fetching for a reader). The honeypot link is not a link of the
message and is not reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from .schema import link_clicks, links

__all__ = ["COUNTS", "LinkClicks", "Tally", "add", "link_report"]

COUNTS = ("human", "human_events", "machine", "machine_events")
# (message id, link index) -> what a pass adds to its counters, in the order of COUNTS
Tally = Mapping[tuple[int, int], tuple[int, int, int, int]]


@dataclass(frozen=True, slots=True)
class LinkClicks:
    link_index: int
    url: str
    anchor_text: str
    human_clicks: int  # recipients with a human-countable click on the link
    human_clicks_events: int  # human-countable clicks
    machine_clicks: int  # recipients whose copy had a machine click on the link
    machine_clicks_events: int  # machine clicks


# written through the driver, rows as tuples: SQLAlchemy's executemany of dicts took ~11 ms
# of Python for a pass's 2,000 links, this ~4 (the promoter shares a core with the redirect)
_ADD = {
    marker: "INSERT INTO link_clicks (message_id, link_index, "
    + ", ".join(COUNTS)
    + f") VALUES ({', '.join([marker] * (2 + len(COUNTS)))}) "
    + "ON CONFLICT (message_id, link_index) DO UPDATE SET "
    + ", ".join(f"{name} = link_clicks.{name} + excluded.{name}" for name in COUNTS)
    for marker in ("?", "%s")  # sqlite3's, psycopg's
}


def add(conn: Connection, tally: Tally) -> None:
    """Add a pass's clicks to their links' counters (one executemany), in the caller's
    transaction: an upsert that adds, so promoters in several processes never lose one."""
    if not tally:
        return
    rows = [(*key, *added) for key, added in sorted(tally.items())]  # a fixed lock order
    conn.exec_driver_sql(_ADD["%s" if conn.dialect.name == "postgresql" else "?"], rows)


def link_report(conn: Connection, message_id: int) -> list[LinkClicks]:
    """Every tracked link of the message in order of appearance, clicked or not."""
    rows = conn.execute(
        select(
            links.c.link_index,
            links.c.url,
            links.c.anchor_text,
            link_clicks.c.human,
            link_clicks.c.human_events,
            link_clicks.c.machine,
            link_clicks.c.machine_events,
        )
        .select_from(
            links.outerjoin(
                link_clicks,
                (link_clicks.c.message_id == links.c.message_id)
                & (link_clicks.c.link_index == links.c.link_index),
            )
        )
        .where(links.c.message_id == message_id)
        .order_by(links.c.link_index)
    )
    return [
        LinkClicks(
            row.link_index,
            row.url,
            row.anchor_text,
            int(row.human or 0),
            int(row.human_events or 0),
            int(row.machine or 0),
            int(row.machine_events or 0),
        )
        for row in rows
    ]
