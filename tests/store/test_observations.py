"""The observation writer: group commit, durable before the answer, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from mailbeacon.store import observations
from mailbeacon.store.db import Database
from mailbeacon.store.observations import ObservationWriter
from mailbeacon.store.schema import observations as table


def row(copy_id: int, at_us: int = 1_000_000) -> observations.Row:
    return (
        copy_id,
        observations.KIND_CLICK,
        3,
        at_us,
        "GET",
        "t.example",
        "10.0.0.0",
        "Mozilla/5.0",
        '{"accept-language":"en"}',
    )


def test_hits_of_one_loop_turn_share_a_commit_and_are_stored_when_awaited(db: Database) -> None:
    commits: list[int] = []

    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        try:
            before = writer.written
            futures = [writer.record(row(i)) for i in range(50)]
            assert len({id(f) for f in futures}) == 1  # one batch, one future
            await asyncio.gather(*futures)
            commits.append(writer.written - before)
            with db.read() as conn:  # durable: visible to another connection
                assert observations.count(conn) == 50
            await asyncio.gather(*(writer.record(row(i)) for i in range(50, 60)))
        finally:
            writer.stop()

    asyncio.run(scenario())
    assert commits == [50]
    with db.read() as conn:
        stored = conn.execute(select(table).order_by(table.c.id)).all()
    assert [r.copy_id for r in stored] == list(range(60))
    assert stored[0].user_agent == "Mozilla/5.0"
    assert stored[0].promoted is False


def test_settled_and_mark_promoted(db: Database) -> None:
    async def fill() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        await asyncio.gather(*(writer.record(row(i, at_us=i * 1_000_000)) for i in range(10)))
        writer.stop()

    asyncio.run(fill())
    with db.write() as conn:
        found = observations.settled(conn, upto_us=4_000_000, limit=100)
        assert [o.copy_id for o in found] == [0, 1, 2, 3, 4]
        observations.mark_promoted(conn, [o.id for o in found[:3]])
        assert [o.copy_id for o in observations.settled(conn, 10**12, 100)] == [3, 4, 5, 6, 7, 8, 9]


def test_a_failing_database_fails_the_batch_and_is_counted(db: Database) -> None:
    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer._sql = "INSERT INTO no_such_table VALUES (1)"  # the database refuses the batch
        writer.start(asyncio.get_running_loop())
        try:
            with pytest.raises(Exception, match="no_such_table"):
                await writer.record(row(1))
            assert writer.failed == 1
        finally:
            writer.stop()

    asyncio.run(scenario())
