"""Retention's purge of raw hits (store/retention.py ``purge_hits``), on both databases: a walk
by id that stops at the first hit too young, and the promoter's queue rows of hits it never
judged going with them."""

from __future__ import annotations

from sqlalchemy import select

from mailbeacon.store import retention
from mailbeacon.store.db import Database
from mailbeacon.store.observations import KIND_CLICK
from mailbeacon.store.schema import observations, unpromoted
from tests.support import hits as stored_hits

MINUTE = 60_000_000


def _hit(at_us: int) -> dict[str, object]:
    return {
        "copy_id": 1,
        "kind": KIND_CLICK,
        "link_index": 0,
        "at_us": at_us,
        "method": "GET",
        "host": "t.example.test",
        "ip": "203.0.113.7",
        "user_agent": "a",
        "headers": "{}",
    }


def test_old_hits_go_judged_or_not_and_a_late_one_once_the_walk_reaches_it(db: Database) -> None:
    # stored in this order: two old hits, a young one, then an old one shipped late
    times = [1 * MINUTE, 2 * MINUTE, 100 * MINUTE, 3 * MINUTE]
    with db.write() as conn:
        stored_hits.store(conn, [_hit(at_us) for at_us in times])
        # the promoter judged all but the second (its queue row stays)
        conn.execute(unpromoted.delete().where(unpromoted.c.at_us != 2 * MINUTE))

    def left() -> tuple[list[int], list[int]]:
        with db.read() as conn:
            hits = conn.execute(select(observations.c.at_us).order_by(observations.c.id))
            queue = conn.execute(select(unpromoted.c.at_us))
            return list(hits.scalars()), list(queue.scalars())

    with db.write() as conn:
        assert retention.purge_hits(conn, 50 * MINUTE, limit=10) == 3  # a queue row, two hits
    assert left() == ([100 * MINUTE, 3 * MINUTE], [])
    with db.write() as conn:
        assert retention.purge_hits(conn, 50 * MINUTE, limit=10) == 0  # the young one: wait
        assert retention.purge_hits(conn, 200 * MINUTE, limit=1) == 1  # a batch at a time
        assert retention.purge_hits(conn, 200 * MINUTE, limit=1) == 1
        assert retention.purge_hits(conn, 200 * MINUTE, limit=1) == 0
    assert left() == ([], [])


def test_hits_stored_after_the_table_was_emptied_are_purged_in_their_turn(db: Database) -> None:
    """SQLite numbers rows from 1 again once its table is empty: the walk has no mark that
    would leave such rows behind."""
    with db.write() as conn:
        stored_hits.store(conn, [_hit(n * MINUTE) for n in range(1, 4)])
        assert retention.purge_hits(conn, 10 * MINUTE, limit=10) == 3 + 3  # queue rows, hits
        stored_hits.store(conn, [_hit(20 * MINUTE)])  # id 1 again, on SQLite
        conn.execute(unpromoted.delete())  # judged
        assert retention.purge_hits(conn, 30 * MINUTE, limit=10) == 1
        assert conn.execute(select(observations.c.id)).all() == []
