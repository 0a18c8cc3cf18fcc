"""The per-link figures two ways, to compare: as ``link_clicks`` keeps them, and as the click
events themselves say (the definition: store/link_report.py)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from mailbeacon.store.schema import events, link_clicks, links

Figures = dict[tuple[int, int], tuple[int, int, int, int]]


def kept(conn: Connection) -> Figures:
    """Every link's counters as stored (rows of zeros left out)."""
    rows = conn.execute(select(link_clicks)).all()
    return {
        (row.message_id, row.link_index): (
            row.human,
            row.human_events,
            row.machine,
            row.machine_events,
        )
        for row in rows
        if row.human_events or row.machine_events
    }


def from_events(conn: Connection) -> Figures:
    """Per link of a message: recipients with a countable click and such clicks, recipients
    with a machine click and such clicks, counted in Python from the events."""
    known = {tuple(row) for row in conn.execute(select(links.c.message_id, links.c.link_index))}
    query = select(
        events.c.message_id,
        events.c.link_index,
        events.c.copy_id,
        events.c.counts_for_metrics,
        events.c.machine,
    ).where(events.c.type == "message.clicked")
    people: dict[tuple[int, int], set[int]] = {}
    robots: dict[tuple[int, int], set[int]] = {}
    clicks: dict[tuple[int, int], list[int]] = {}
    for message_id, index, copy_id, counted, machine in conn.execute(query):
        key = (message_id, index)
        if key not in known:
            continue  # the honeypot, or an index that is no link of the message
        tally = clicks.setdefault(key, [0, 0])
        if counted:
            people.setdefault(key, set()).add(copy_id)
            tally[0] += 1
        if machine:
            robots.setdefault(key, set()).add(copy_id)
            tally[1] += 1
    return {
        key: (len(people.get(key, ())), human, len(robots.get(key, ())), machine)
        for key, (human, machine) in clicks.items()
        if human or machine
    }
