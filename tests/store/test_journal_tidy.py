"""The journal's shipped hits are deleted by the clicks' own commits, a share at a time, not by
the shipper holding the journal's write lock while clicks wait (store/journal.py ``tidy``);
nothing shipped stays for good, and the last hit always stays (its number is never reused)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from mailbeacon.service.shipper import Shipper
from mailbeacon.store import observations
from mailbeacon.store.db import Database
from mailbeacon.store.journal import FORGET_CHUNK, Journal
from mailbeacon.store.observations import ObservationWriter


def hit(n: int) -> tuple[object, ...]:
    return (n, 2, 0, 1_700_000_000_000_000 + n, "GET", "t.example", None, "UA", "{}")


def kept(journal: Journal) -> tuple[int, int, str | None]:
    """(hits in the file, the lowest seq, the mark) as a new connection reads them."""
    with sqlite3.connect(journal.path) as conn:
        count, lowest = conn.execute("SELECT count(*), min(seq) FROM hits").fetchone()
        mark = conn.execute("SELECT value FROM meta WHERE name = 'shipped'").fetchone()
    return count, lowest, None if mark is None else mark[0]


def test_a_commit_deletes_a_chunk_of_shipped_hits_and_moves_the_mark(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "hits-1.sqlite3")
    journal.open()
    try:
        total = 3 * FORGET_CHUNK
        with journal.db.write() as conn:
            conn.exec_driver_sql(journal.insert_sql, [hit(n) for n in range(total)])
        target = 2 * FORGET_CHUNK + FORGET_CHUNK // 2  # seqs start at 1
        journal.forget_later(target)
        assert journal.shipped == target  # the next batch starts after it, at once
        assert kept(journal)[0] == total  # ... but nothing is deleted yet
        conn = sqlite3.connect(journal.path, isolation_level=None)
        ends = []
        for _ in range(4):
            conn.execute("BEGIN IMMEDIATE")
            journal.tidy(conn)
            conn.execute("COMMIT")
            count, lowest, mark = kept(journal)
            ends.append((count, lowest, mark))
        conn.close()
        chunk = FORGET_CHUNK
        assert ends == [
            (total - (chunk - 1), chunk, str(chunk)),
            (total - (2 * chunk - 1), 2 * chunk, str(2 * chunk)),
            (total - (target - 1), target, str(target)),  # the last shipped one stays
            (total - (target - 1), target, str(target)),  # nothing more to delete
        ]
        assert journal.unforgotten == 0
    finally:
        journal.close()


def test_while_clicks_are_committed_the_shipper_never_takes_the_journals_lock(
    db: Database, tmp_path: Path
) -> None:
    """Hits recorded as the loop records clicks, shipped meanwhile: the shipper's thread never
    deletes from the journal itself (which holds its lock) while the writer commits; the
    clicks' commits delete what was shipped, and the file stays small. At the end every hit
    is in ``observations`` and the journal keeps only its last one."""
    journal = Journal(tmp_path / "hits-1.sqlite3")
    writer = ObservationWriter(journal.db, sql=journal.insert_sql, tidy=journal.tidy)
    shipper = Shipper(journal, db, writer, cap=1_000_000, batch=300, interval=0.01)
    forgets: list[str] = []
    forget = journal.forget

    def counted(up_to: int) -> None:
        forgets.append(threading.current_thread().name)
        forget(up_to)

    journal.forget = counted  # type: ignore[method-assign]
    largest = 0
    rounds, per_round = 300, 20
    total = rounds * per_round

    async def clicks() -> None:
        nonlocal largest
        writer.start(asyncio.get_running_loop())
        try:
            for round_ in range(rounds):
                await asyncio.gather(
                    *(writer.record(hit(round_ * per_round + n)) for n in range(per_round))
                )
                largest = max(largest, kept(journal)[0])
                await asyncio.sleep(0.001)
            assert forgets == [], forgets
            # A last few clicks, shipped while the writer is still "committing": no later
            # commit deletes them, so the shipper does, once the clicks have stopped.
            await asyncio.gather(*(writer.record(hit(total + n)) for n in range(per_round)))
            for _ in range(300):
                if journal.shipped == total + per_round and not journal.unforgotten:
                    break
                await asyncio.sleep(0.01)
            assert journal.unforgotten == 0
            assert forgets == ["hit-shipper"]
        finally:
            writer.stop()

    shipper.start()
    try:
        asyncio.run(clicks())
    finally:
        shipper.stop()
    total += per_round
    with db.read() as conn:
        assert observations.count(conn) == total
    assert kept(journal) == (1, total, str(total))  # emptied but the last: numbers go on
    assert largest < total // 3  # deleted as it went, not at the end
