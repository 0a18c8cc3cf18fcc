"""The hit journal to observations, exactly once, on both databases: a batch shipped again
(a crash after the central commit, before the journal forgot it) inserts nothing twice, and
numbers are never used twice after the journal is emptied."""

from __future__ import annotations

from pathlib import Path

from mailbeacon.service.shipper import Shipper
from mailbeacon.store import observations
from mailbeacon.store.db import Database
from mailbeacon.store.journal import Journal
from mailbeacon.store.observations import ObservationWriter
from mailbeacon.store.shipping import SqliteShipping, ship, shipped_up_to


def hit(n: int) -> tuple[object, ...]:
    return (n, 2, 0, 1_700_000_000_000_000 + n, "GET", "t.example", None, "UA", "{}")


def journalled(journal: Journal, count: int, first: int = 0) -> None:
    with journal.db.write() as conn:
        conn.exec_driver_sql(journal.insert_sql, [hit(first + n) for n in range(count)])


def recorded(db: Database) -> list[int]:
    with db.read() as conn:
        return sorted(r[0] for r in conn.exec_driver_sql("SELECT copy_id FROM observations").all())


def test_a_batch_shipped_twice_is_recorded_once(db: Database, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "hits-1.sqlite3")
    journal.open()
    journalled(journal, 5)
    # shipped, then "crashed" before the journal forgot: the next run ships it again
    if db.is_sqlite:
        shipping = SqliteShipping(db, journal.path)
        assert shipping.ship(journal.source, 5) == 5
        assert shipping.ship(journal.source, 5) == 0
        shipping.close()
    else:
        for expected in (5, 0):
            with db.write() as conn:
                assert ship(conn, journal.source, journal.after(0, 5), 5) == expected
    assert recorded(db) == [0, 1, 2, 3, 4]
    with db.read() as conn:
        assert shipped_up_to(conn, journal.source) == 5
    journal.close()


def test_the_shipper_replays_what_a_killed_run_left_exactly_once(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "hits-1.sqlite3"
    first = Journal(path)
    first.open()
    journalled(first, 3)
    with db.write() as conn:  # the central commit of a run killed before it forgot them
        ship(conn, first.source, first.after(0, 2), 2)
    first.close()
    journal = Journal(path)
    writer = ObservationWriter(journal.db, sql=journal.insert_sql)
    shipper = Shipper(journal, db, writer, cap=100)
    shipper.start()
    try:
        assert shipper.depth == 3  # the journal cannot know the first two arrived
        assert shipper.ship_now() == 3
        assert shipper.depth == 0
        assert recorded(db) == [0, 1, 2]
        # emptied, the journal numbers on from where it was, never from 1 again
        journalled(journal, 2, first=10)
        assert journal.newest() == 5
    finally:
        shipper.stop()
    journal = Journal(path)
    journal.open()
    try:
        assert (journal.newest(), journal.shipped) == (5, 5)  # the stop's last pass shipped
    finally:
        journal.close()
    with db.read() as conn:
        assert observations.count(conn) == 5  # the stop's last pass shipped the two


def test_journals_of_dead_processes_are_adopted_and_deleted_live_ones_are_not(
    db: Database, tmp_path: Path
) -> None:
    """A serve killed, then restarted on another port: its journal is shipped by whichever
    process starts next in the directory; a running process's journal is left alone."""
    dead = Journal(tmp_path / "hits-1111.sqlite3")
    dead.open()
    journalled(dead, 3)
    dead.close()
    live = Journal(tmp_path / "hits-3333.sqlite3")
    live.open()
    journalled(live, 2, first=100)
    journal = Journal(tmp_path / "hits-2222.sqlite3")
    shipper = Shipper(journal, db, ObservationWriter(journal.db, sql=journal.insert_sql), cap=100)
    shipper.start()
    try:
        assert shipper.depth == 3
        assert shipper.ship_now() == 3
        assert shipper.depth == 0
    finally:
        shipper.stop()
        live.close()
    assert recorded(db) == [0, 1, 2]
    assert not (tmp_path / "hits-1111.sqlite3").exists()
    assert (tmp_path / "hits-3333.sqlite3").exists()
