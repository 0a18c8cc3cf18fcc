"""What each of the events table's indexes costs an insert, on SQLite.

The promoter's pass spends about half its time in SQLite's own work, most of it inserting
the events (store/events.py ``insert_many``: one executemany per pass). This takes the
schema's ``events`` table as the migrations make it (every index, the unique columns'
included), inserts ``--events`` click events shaped like the promoter's (UUIDv7 public ids,
ascending observation ids, 100 messages of 10 links, 500 copies, a machine verdict) in
transactions of 10,000, as a pass does, and prints the CPU per event:

- with every index (what the promoter pays),
- with each secondary index left out in turn (what that index costs),
- with none but the primary key (the floor).

Each figure is the median of ``--rounds`` runs on a new file. Only ratios to the floor
measured in the same run mean anything across machines.

Usage: python bench/promote/event_indexes.py [--events N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex

from mailbeacon.store import schema
from mailbeacon.store.events import _INSERT
from mailbeacon.store.ids import new_ids

PASS = 10_000  # events per transaction, as a promoter's pass


def statements() -> tuple[str, dict[str, str]]:
    """The table with its primary key only (no foreign keys: nothing here to refer to; the
    promoter's connections check them, two primary key lookups an event), and every other
    index by name, the unique columns' made indexes."""
    dialect = sqlite_dialect.dialect()
    columns = [
        f"{column.name} {column.type.compile(dialect=dialect)}"
        + (" PRIMARY KEY" if column.primary_key else "")
        + ("" if column.nullable or column.primary_key else " NOT NULL")
        for column in schema.events.columns
    ]
    table = f"CREATE TABLE events ({', '.join(columns)})"
    indexes = {
        f"unique {column.name}": f"CREATE UNIQUE INDEX ux_{column.name} ON events ({column.name})"
        for column in schema.events.columns
        if column.unique
    }
    indexes.update(
        (str(index.name), str(CreateIndex(index).compile(dialect=dialect)))
        for index in schema.events.indexes
    )
    return table, indexes


def rows(first: int, count: int) -> list[tuple[Any, ...]]:
    """``count`` click events from observation ``first`` on, as the promoter writes them."""
    ids = new_ids(count)
    made = []
    for n in range(count):
        i = first + n
        made.append(
            (
                ids[n],
                1,
                1 + i % 100,
                "message.clicked",
                f"2026-12-06 {i // 3_600_000_000 % 24:02d}:{i // 60_000_000 % 60:02d}:"
                f"{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}",
                1000 + i % 500,
                i,
                f"r{i % 500}@example.com",
                i % 10,
                f"https://example.com/page/{i % 10}",
                "Read more",
                False,
                "generic_bot",
                98,
                None,
                None,
                '["no_user_agent"]',
                '{"rule":"no_user_agent"}',
                True,
                False,
                None,
                None,
                None,
                "",
                "{}",
                0,
            )
        )
    return made


def cpu_per_event(table: str, indexes: list[str], events: int) -> float:
    """CPU microseconds per event, inserting ``events`` in passes into a new file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.sqlite3"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")  # the promoter's (store/db.py)
        conn.execute(table)
        for index in indexes:
            conn.execute(index)
        spent = 0.0
        for first in range(0, events, PASS):
            batch = rows(first, min(PASS, events - first))
            started = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT["?"], batch)
            conn.execute("COMMIT")
            spent += time.process_time() - started
        conn.close()
    return spent * 1e6 / events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    table, indexes = statements()
    every = list(indexes.values())
    configurations = {"every": every, "none": []} | {
        name: [sql for other, sql in indexes.items() if other != name] for name in indexes
    }
    # round robin, so that the machine's slower and faster moments fall on every one alike
    measured: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(args.rounds):
        for name, kept in configurations.items():
            measured[name].append(cpu_per_event(table, kept, args.events))
    median = {name: statistics.median(values) for name, values in measured.items()}
    floor, full = median["none"], median["every"]
    print(f"events table, SQLite {sqlite3.sqlite_version}: {args.events:,} click events in")
    print(f"passes of {PASS:,}, CPU per event, median of {args.rounds} (pid {os.getpid()})")
    print(f"{'indexes':44}{'us/event':>10}{'x floor':>9}{'this index':>12}")
    print(f"{'every one (what the promoter pays)':44}{full:10.2f}{full / floor:9.2f}")
    for name in indexes:
        without = median[name]
        print(f"{'all but ' + name:44}{without:10.2f}{without / floor:9.2f}{full - without:12.2f}")
    print(f"{'none (the floor: the table and its key)':44}{floor:10.2f}{1:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
