"""What marking a pass's hits promoted costs, two ways, on SQLite.

The promoter claims up to 10,000 observations a pass and, in the pass's transaction, marks
them promoted. Two designs of that mark, on tables shaped like ``observations`` (rows of
~300 bytes, as real hits' user agents and headers make them):

- ``flag``: a ``promoted`` column and an index of (promoted, at_us), as before migration 0019:
  the mark is an UPDATE, which rewrites each row and moves its index entry;
- ``queue``: a ``WITHOUT ROWID`` table of (at_us, id) the hits wait in (``unpromoted``, the
  schema now): the mark deletes the pass's keys;
- ``trigger``: the same queue, filled by a row trigger instead of a statement per batch (the
  way not taken: it costs the shipper more).

Each writes the hits in batches of 1,000 (as the shipper does) and then marks them in passes
of 10,000, oldest first. It prints the
CPU per hit of each step, the median of ``--rounds`` runs on a new file each, and the ratio
of the two marks (only ratios measured in the same run mean anything across machines).

Usage: python bench/promote/marks.py [--hits N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

PASS = 10_000
SHIP = 1_000
AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HEADERS = '{"accept-language":"en-GB","accept":"text/html,application/xhtml+xml"}'
TABLE = (
    "CREATE TABLE observations (id INTEGER PRIMARY KEY, copy_id INTEGER NOT NULL, "
    "kind SMALLINT NOT NULL, link_index INTEGER NOT NULL, at_us BIGINT NOT NULL, "
    "method VARCHAR(8) NOT NULL, host VARCHAR(255) NOT NULL, ip VARCHAR(64), "
    "user_agent TEXT NOT NULL, headers TEXT NOT NULL{flag})"
)
COLUMNS = "copy_id, kind, link_index, at_us, method, host, ip, user_agent, headers"


def run(design: str, hits: int, directory: Path) -> tuple[float, float]:
    """(ship, mark) CPU microseconds per hit."""
    conn = sqlite3.connect(directory / f"{design}.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if design == "flag":
        conn.execute(TABLE.format(flag=", promoted BOOLEAN NOT NULL"))
        conn.execute(
            "CREATE INDEX ix_observations_promoted_at_us ON observations (promoted, at_us)"
        )
        insert = f"INSERT INTO observations ({COLUMNS}, promoted) VALUES (?,?,?,?,?,?,?,?,?,0)"
    else:
        conn.execute(TABLE.format(flag=""))
        conn.execute(
            "CREATE TABLE unpromoted (at_us BIGINT NOT NULL, observation_id BIGINT NOT NULL, "
            "PRIMARY KEY (at_us, observation_id)) WITHOUT ROWID"
        )
        if design == "trigger":
            conn.execute(
                "CREATE TRIGGER observations_wait AFTER INSERT ON observations BEGIN "
                "INSERT INTO unpromoted (at_us, observation_id) VALUES (NEW.at_us, NEW.id); END"
            )
        insert = f"INSERT INTO observations ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
    rng = random.Random(1)
    start = 1_800_000_000_000_000
    rows = [
        (
            rng.randrange(500),
            2,
            rng.randrange(20),
            start + i * 50,
            "GET",
            "t.example.test",
            "203.0.113.7",
            AGENT,
            HEADERS,
        )
        for i in range(hits)
    ]
    cpu = time.process_time()
    for first in range(0, hits, SHIP):
        conn.execute("BEGIN IMMEDIATE")
        before = conn.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
        conn.executemany(insert, rows[first : first + SHIP])
        if design == "queue":  # as store/observations.py insert_hits does
            conn.execute(
                "INSERT INTO unpromoted (at_us, observation_id) "
                "SELECT at_us, id FROM observations WHERE id > ?",
                (before,),
            )
        conn.execute("COMMIT")
    ship = time.process_time() - cpu
    mark = 0.0
    for _ in range(0, hits, PASS):
        if design == "flag":
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM observations WHERE promoted = 0 ORDER BY at_us LIMIT ?", (PASS,)
                )
            ]
            cpu = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            done = conn.execute(
                "UPDATE observations SET promoted = 1 WHERE id IN "
                "(SELECT value FROM json_each(?)) AND promoted = 0",
                (json.dumps(ids),),
            ).rowcount
        else:
            keys = [
                list(row)
                for row in conn.execute(
                    "SELECT at_us, observation_id FROM unpromoted ORDER BY at_us LIMIT ?", (PASS,)
                )
            ]
            cpu = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            done = conn.execute(
                "DELETE FROM unpromoted WHERE (at_us, observation_id) IN "
                "(SELECT value ->> 0, value ->> 1 FROM json_each(?))",
                (json.dumps(keys),),
            ).rowcount
        conn.execute("COMMIT")
        mark += time.process_time() - cpu
        assert done == min(PASS, hits), done
    conn.close()
    return ship / hits * 1e6, mark / hits * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    found: dict[str, list[tuple[float, float]]] = {"flag": [], "queue": [], "trigger": []}
    for _ in range(args.rounds):
        for design in found:  # round robin: the machine's drift falls on both
            with tempfile.TemporaryDirectory() as directory:
                found[design].append(run(design, args.hits, Path(directory)))
    print(f"{args.hits} hits, shipped in batches of {SHIP}, marked in passes of {PASS}")
    print(f"{'':8}{'ship us/hit':>14}{'mark us/hit':>14}   (CPU, medians of {args.rounds})")
    medians = {}
    for design, runs in found.items():
        ship = statistics.median(r[0] for r in runs)
        mark = statistics.median(r[1] for r in runs)
        medians[design] = (ship, mark)
        print(f"{design:8}{ship:14.2f}{mark:14.2f}")
    flag, queue = medians["flag"], medians["queue"]
    print(
        f"mark, queue / flag: {queue[1] / flag[1]:.2f}; ship and mark, queue / flag: "
        f"{sum(queue) / sum(flag):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
