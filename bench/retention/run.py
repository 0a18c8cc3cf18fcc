"""Retention over a million rows: how long each batch holds the database, and how fast it goes.

A fresh database gets ``--rows`` raw hits and as many events, all 60 days old, then the
retention worker's passes (workers/retention.py, the code `mailbeacon serve` runs) purge the
hits and anonymise the events until nothing is left. Each pass is one short transaction per
kind; what matters for everything else writing to the database (the shipper, the promoter,
the APIs; clicks write only their hit journal) is how long one holds the write lock, so every
transaction's duration is reported (p50, p99, max), with the rows per second.

With ``--postgres URL`` (an admin URL) the same runs on a PostgreSQL database made for it
(``bench_retention_PID``), dropped at the end.

Usage: python bench/retention/run.py [--rows 1000000] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from mailbeacon.clock import FixedClock
from mailbeacon.store import migrate
from mailbeacon.store.db import Database
from mailbeacon.store.schema import events, observations
from mailbeacon.workers.retention import BATCH, Retention, RetentionPolicy

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=60)
AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"


def fill(db: Database, rows: int) -> None:
    """``rows`` old raw hits and ``rows`` old click events with their personal fields."""
    old_us = int(OLD.timestamp() * 1_000_000)
    series = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) "
        if db.is_sqlite
        else "WITH n(i) AS (SELECT generate_series(1, :rows)) "
    )
    true = "1" if db.is_sqlite else "true"
    with db.write() as conn:
        conn.execute(
            text(
                series + "INSERT INTO observations (copy_id, kind, link_index, at_us, method, "
                "host, ip, user_agent, headers) SELECT i % 5000 + 1, 2, i % 20, "
                ":old + i, 'GET', 't.example.com', '203.0.113.0', :agent, '{}' FROM n"
            ),
            {"rows": rows, "old": old_us, "agent": AGENT},
        )
        team = conn.execute(
            text(
                "INSERT INTO teams (public_id, name, token_hash, created_at) "
                "VALUES ('t', 't', 't', :at) RETURNING id"
            ),
            {"at": OLD.replace(tzinfo=None)},
        ).scalar_one()
        project = conn.execute(
            text(
                "INSERT INTO projects (public_id, team_id, sid, name, sending_token_hash, "
                "delivery_mode, smtp_enabled, redact_email_content, token_generated_at, "
                "created_at, updated_at) VALUES ('p', :team, 's', 'p', 'h', 'live', "
                f"{true}, {'0' if db.is_sqlite else 'false'}, :at, :at, :at) RETURNING id"
            ),
            {"team": team, "at": OLD.replace(tzinfo=None)},
        ).scalar_one()
        message = conn.execute(
            text(
                "INSERT INTO messages (public_id, project_id, source, status, from_email, "
                '"to", cc, bcc, reply_to, tags, metadata, attachments, raw, transactional, '
                "track_opens, track_clicks, status_changed_at, created_at) VALUES ('m', :p, "
                "'lettermint', 'delivered', 'a@b.c', '[]', '[]', '[]', '[]', '[]', '{}', "
                f"'[]', :raw, {true}, {true}, {true}, :at, :at) RETURNING id"
            ),
            {"p": project, "raw": b"Subject: s\r\n\r\nbody", "at": OLD.replace(tzinfo=None)},
        ).scalar_one()
        at = (
            "datetime(:at, '+' || i || ' seconds')"
            if db.is_sqlite
            else "(:at + i * interval '1 second')"
        )
        conn.execute(
            text(
                series + "INSERT INTO events (public_id, project_id, message_id, copy_id, type, "
                "at, recipient, user_agent, data) SELECT 'e' || i, :p, :m, i % 5000 + 1, "
                f"'message.clicked', {at}, 'r' || (i % 5000) || '@example.org', :agent, '{{}}' "
                "FROM n"
            ),
            {
                "rows": rows,
                "p": project,
                "m": message,
                "agent": AGENT,
                "at": OLD.replace(tzinfo=None),
            },
        )


def purge(db: Database) -> tuple[float, list[float], dict[str, int]]:
    """(seconds, each transaction's seconds, rows by kind) of a whole purge."""
    policy = RetentionPolicy(hits=timedelta(days=28), bodies=None, personal=timedelta(days=28))
    retention = Retention(db, FixedClock(NOW), policy)
    # one transaction per kind and pass: time them one at a time
    steps = retention.steps
    durations: list[float] = []
    total: dict[str, int] = {}
    started = time.perf_counter()
    while True:
        moved = 0
        for name, age, step in steps:
            if age is None:
                continue
            began = time.perf_counter()
            with db.write() as conn:
                done = step(conn, NOW - age, BATCH)
            if done:
                durations.append(time.perf_counter() - began)
            total[name] = total.get(name, 0) + done
            moved += done
        if not moved:
            return time.perf_counter() - started, durations, total


def report(label: str, db: Database, rows: int) -> None:
    fill(db, rows)
    seconds, durations, total = purge(db)
    with db.read() as conn:
        left_hits = conn.execute(select(func.count()).select_from(observations)).scalar_one()
        left_people = conn.execute(
            select(func.count()).where(events.c.recipient.is_not(None))
        ).scalar_one()
    ms = sorted(d * 1000 for d in durations)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    changed = sum(total.values())
    print(
        f"{label}: {total.get('hits', 0)} hits deleted, {total.get('event_fields', 0)} events "
        f"anonymised in {seconds:.1f} s ({changed / seconds:,.0f} rows/s, breathers not "
        f"included); {len(ms)} transactions of <= {BATCH} rows: p50 {statistics.median(ms):.1f} "
        f"ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms; left: {left_hits} hits, {left_people} "
        "events with personal fields"
    )
    if left_hits or left_people:
        raise SystemExit(f"{label}: the purge left rows behind")


@contextlib.contextmanager
def postgres(admin: str) -> Iterator[str]:
    name = f"bench_retention_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="an admin URL: also run on PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        migrate.upgrade(db)
        report("SQLite", db, args.rows)
        db.dispose()
    if args.postgres:
        with postgres(args.postgres) as url:
            db = Database(url)
            migrate.upgrade(db)
            report("PostgreSQL", db, args.rows)
            db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
