"""The observation writer: group commit, durable before the answer, on both databases."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbeacon.store import observations, promotion
from mailbeacon.store.checkpoints import WalCheckpointer
from mailbeacon.store.db import Database
from mailbeacon.store.observations import ObservationWriter
from mailbeacon.store.schema import observations as table
from mailbeacon.store.schema import unpromoted


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
    with db.read() as conn:  # every one waits for the promoter (the database's trigger)
        waiting = conn.execute(select(unpromoted).order_by(unpromoted.c.observation_id)).all()
    assert [tuple(w) for w in waiting] == [(r.at_us, r.id) for r in stored]


def test_claim_takes_settled_observations_oldest_first_and_mark_promoted_counts(
    db: Database,
) -> None:
    async def fill() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        await asyncio.gather(*(writer.record(row(i, at_us=i * 1_000_000)) for i in range(10)))
        writer.stop()

    asyncio.run(fill())
    with db.write() as conn:
        found = promotion.claim(conn, upto_us=4_000_000, limit=100, skip_locked=False)
        assert [o[1] for o in found] == [0, 1, 2, 3, 4]
        assert promotion.mark_promoted(conn, found[:3]) == 3
        assert promotion.mark_promoted(conn, found[:3]) == 0  # already: another promoter's
        claimed = promotion.claim(conn, 10**12, 100, skip_locked=False)
        assert [o[1] for o in claimed] == [3, 4, 5, 6, 7, 8, 9]


def test_a_failing_database_fails_the_batch_and_is_counted(db: Database) -> None:
    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer._sql = "INSERT INTO no_such_table VALUES (1)"  # the database refuses the batch
        writer._queued = False  # (the statement above is the whole batch)
        writer.start(asyncio.get_running_loop())
        try:
            with pytest.raises(Exception, match="no_such_table"):
                await writer.record(row(1))
            assert writer.failed == 1
        finally:
            writer.stop()

    asyncio.run(scenario())


def test_a_failed_batch_is_rolled_back_and_the_next_one_is_stored(db: Database) -> None:
    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        try:
            await writer.record(row(1))
            good = writer._sql
            writer._sql = good.replace("observations", "no_such_table")
            writer._queued = False  # (the statement above is the whole batch)
            with pytest.raises(Exception, match="no_such_table"):
                await writer.record(row(2))
            writer._sql, writer._queued = good, True
            await writer.record(row(3))
        finally:
            writer.stop()

    asyncio.run(scenario())
    with db.read() as conn:
        assert [r.copy_id for r in conn.execute(select(table.c.copy_id))] == [1, 3]


def test_on_sqlite_clicks_never_wait_for_a_checkpoint_yet_the_log_is_checkpointed(
    sqlite_url: str,
) -> None:
    """The writer's own connection never checkpoints (a checkpoint fsyncs inside the commit
    that clicks wait for): its log grows past SQLite's 1000-page autocheckpoint untouched.
    The WalCheckpointer, on its own connection, moves it into the database file."""
    db = Database(sqlite_url)
    path = Path(db.engine.url.database or "")
    wal = path.with_name(path.name + "-wal")
    big = "x" * 3000  # a long user agent: 7.5 MB of log in 2,500 rows

    class Idle(WalCheckpointer):
        def start(self) -> None:  # never runs: only the writer's own connection writes
            pass

    other = db.engine.raw_connection()  # open: the writer's is not the last to close
    try:
        size = path.stat().st_size

        async def scenario() -> None:
            writer = ObservationWriter(db)
            writer._checkpointer = Idle(db)
            writer.start(asyncio.get_running_loop())
            try:
                for start in range(0, 2500, 100):
                    rows = [(*row(i)[:7], big, "{}") for i in range(start, start + 100)]
                    await asyncio.gather(*(writer.record(r) for r in rows))
            finally:
                writer.stop()

        asyncio.run(scenario())
        assert wal.stat().st_size > 1000 * 4096 * 1.5  # an autocheckpoint would have reset it
        assert path.stat().st_size == size
        checkpointer = WalCheckpointer(db)
        checkpointer.checkpoint()
        assert checkpointer.checkpoints == 1
        assert path.stat().st_size > size + 7_000_000
        with db.read() as conn:
            assert observations.count(conn) == 2500
    finally:
        other.close()
        db.dispose()


def test_the_checkpointer_checkpoints_after_writes_and_once_more_when_stopped(
    sqlite_url: str,
) -> None:
    db = Database(sqlite_url)
    try:
        checkpointer = WalCheckpointer(db, interval=0.05)
        checkpointer.start()
        time.sleep(0.2)
        assert checkpointer.checkpoints == 0  # nothing written: nothing to do
        checkpointer.wrote()
        deadline = time.monotonic() + 5
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.checkpoints == 1
        checkpointer.wrote()
        checkpointer.stop()
        assert checkpointer.checkpoints == 2
    finally:
        db.dispose()


def test_on_sqlite_a_batch_commits_on_the_loop_unless_a_writer_holds_the_lock(
    sqlite_url: str,
) -> None:
    """Inline when the lock is free; when another writer of this process holds it, or another
    connection (another process) holds SQLite's write lock, the batch goes to the thread,
    which waits for the lock: the loop never does, and nothing is lost."""
    db = Database(sqlite_url)
    other = sqlite3.connect(db.engine.url.database or "", isolation_level=None)

    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        try:
            await asyncio.gather(*(writer.record(row(i)) for i in range(10)))
            assert (writer.inline_batches, writer.written) == (1, 10)

            for hold, release in (
                (lambda: db.sqlite_lock.acquire(), lambda: db.sqlite_lock.release()),
                (lambda: other.execute("BEGIN IMMEDIATE"), lambda: other.execute("COMMIT")),
            ):
                hold()
                pending = asyncio.gather(*(writer.record(row(i)) for i in range(5)))
                started = time.monotonic()
                await asyncio.sleep(0.2)  # the loop runs on meanwhile
                assert time.monotonic() - started < 0.5
                assert not pending.done()
                release()
                await asyncio.wait_for(pending, 10)
            assert (writer.inline_batches, writer.written) == (1, 20)
            await writer.record(row(99))  # the lock is free again: inline
            assert writer.inline_batches == 2
        finally:
            writer.stop()

    try:
        asyncio.run(scenario())
        with db.read() as conn:
            assert observations.count(conn) == 21
    finally:
        other.close()
        db.dispose()


def _hold_lock_in_a_thread(db: Database, seconds: float) -> threading.Thread:
    """Another thread of the process (the shipper deleting what it shipped) holds the write
    lock for ``seconds``; returns once it holds it."""
    held = threading.Event()

    def hold() -> None:
        with db.sqlite_lock:
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    return thread


def test_on_sqlite_a_batch_waits_on_the_loop_for_a_lock_another_thread_holds_briefly(
    sqlite_url: str,
) -> None:
    """The batch is tried again on the loop, gathering the clicks that arrive meanwhile, and
    commits there once the lock is free: one commit, none handed to the thread."""
    db = Database(sqlite_url)

    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        try:
            holder = _hold_lock_in_a_thread(db, 0.005)
            first = writer.record(row(1))
            await asyncio.sleep(0.002)
            second = writer.record(row(2))  # while the first waits: the same batch
            await asyncio.wait_for(asyncio.gather(first, second), 5)
            holder.join()
            assert writer.lock_waits > 0
            assert (writer.inline_batches, writer.written) == (1, 2)
        finally:
            writer.stop()

    try:
        asyncio.run(scenario())
    finally:
        db.dispose()


def test_a_batch_waiting_for_the_lock_when_the_writer_stops_is_written(sqlite_url: str) -> None:
    db = Database(sqlite_url)

    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        holder = _hold_lock_in_a_thread(db, 0.1)
        writer.record(row(1))  # its future is settled on a turn of the loop that never comes
        await asyncio.sleep(0.01)
        assert writer.lock_waits > 0
        assert writer.written == 0
        writer.stop()  # the thread takes the batch and waits for the lock
        holder.join()
        assert writer.written == 1

    try:
        asyncio.run(scenario())
        with db.read() as conn:
            assert observations.count(conn) == 1
    finally:
        db.dispose()


def test_with_synchronous_full_batches_never_commit_on_the_loop(sqlite_url: str) -> None:
    """A commit that waits for an fsync must not block the event loop."""
    db = Database(sqlite_url, sqlite_synchronous="full")

    async def scenario() -> None:
        writer = ObservationWriter(db)
        writer.start(asyncio.get_running_loop())
        try:
            await asyncio.gather(*(writer.record(row(i)) for i in range(10)))
            assert (writer.inline_batches, writer.written) == (0, 10)
        finally:
            writer.stop()

    try:
        asyncio.run(scenario())
    finally:
        db.dispose()


def test_a_log_that_commits_keep_from_restarting_starts_over_after_a_locked_checkpoint(
    sqlite_url: str,
) -> None:
    """SQLite starts the log over only when a writer finds every frame checkpointed, which a
    steady stream of commits never allows (it grew to 218 MB in 430,000 clicks): a commit
    lands while each PASSIVE checkpoint runs. Past ``restart_frames`` the checkpointer runs a
    second PASSIVE checkpoint under the process's write lock, which no commit can interrupt,
    so the next commit starts the log over. Here a commit lands during the first one, as
    under load; with no second pass the log goes on growing."""
    db = Database(sqlite_url)
    other = db.engine.raw_connection()  # open: closing the writer's is not the last close
    big = "x" * 3000
    writing = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    writing.execute("PRAGMA wal_autocheckpoint=0")
    reader = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    sql = ObservationWriter(db)._sql

    def fill() -> None:
        async def scenario() -> None:
            writer = ObservationWriter(db)
            writer._checkpointer = _Idle(db)  # nothing checkpoints but the test
            writer.start(asyncio.get_running_loop())
            try:
                for start in range(0, 1000, 50):
                    rows = [(*row(i)[:7], big, "{}") for i in range(start, start + 50)]
                    await asyncio.gather(*(writer.record(r) for r in rows))
            finally:
                writer.stop()

        asyncio.run(scenario())

    class Racing(WalCheckpointer):
        """A commit lands while the first PASSIVE checkpoint runs, so it cannot complete. To
        make that happen every time, a reader holds the log as it was before the commit:
        a checkpoint does not copy frames past an open snapshot."""

        raced = False

        def _passive(self, conn: Any) -> tuple[int, int]:
            if self.raced:
                return super()._passive(conn)
            self.raced = True
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM observations").fetchall()
            commit(5000)
            try:
                return super()._passive(conn)
            finally:
                reader.execute("COMMIT")

    def commit(copy_id: int) -> None:
        """As the observation writer commits: under the lock, never checkpointing."""
        with db.sqlite_lock:
            writing.execute("BEGIN IMMEDIATE")
            writing.execute(sql, row(copy_id))
            writing.execute("COMMIT")

    def log_frames_after_a_commit() -> int:
        commit(6000)
        with db.read() as conn:
            return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1])

    try:
        fill()
        passive = Racing(db, restart_frames=10**9)  # never a second pass
        passive.checkpoint()
        assert passive.restarts == 0
        assert log_frames_after_a_commit() > 1000  # appended to the old log
        fill()
        restarting = Racing(db, restart_frames=200)
        restarting.checkpoint()
        assert restarting.restarts == 1
        assert log_frames_after_a_commit() < 10  # the log started over
        with db.read() as conn:
            assert observations.count(conn) == 2004
    finally:
        reader.close()
        writing.close()
        other.close()
        db.dispose()


class _Idle(WalCheckpointer):
    """Never checkpoints: only the test does."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
