"""Promotion throughput: observations classified, written as events and rolled up, per second.

SQLite in a temporary directory, one core's worth of work (the promoter is one thread):
1000 messages of 10 links to 5 recipients each, then observations on them: people opening
and clicking, Apple MPP prefetches, Gmail proxy opens, scanner bursts from Microsoft's
network, Slack previews, HEAD probes, over a few dozen user agents. Promotion runs pass after
pass until none is left. Baseline, in the same run: copying the same rows into the events
table with one INSERT ... SELECT (the database's own floor for moving them), so the ratio
says what classification and bookkeeping cost on top.

Usage: python bench/promote/run.py [--observations 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from mailbeacon.app import build_services
from mailbeacon.clock import FixedClock
from mailbeacon.config import load_settings
from mailbeacon.service.accept import Intake, accept
from mailbeacon.store import migrate, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.schema import copies, events, observations
from mailbeacon.workers.promoter import Promoter

KEYS = "1:" + "bench-signing-key-0123456789abcdefgh"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AGENTS = (
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{v}.0.0.0 Safari/537.36"
        for v in range(118, 132)
    ]
    + [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        f"Gecko) Version/17.{v} Mobile/15E148 Safari/604.1"
        for v in range(6)
    ]
    + [
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.2.0",
    ]
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
HTML = "<body>" + "".join(f'<a href="https://shop.example/{i}">Item {i}</a>' for i in range(10))


def prepare(directory: Path, wanted: int) -> tuple[Database, list[tuple]]:
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    settings = load_settings({"MAILBEACON_DATABASE_URL": url, "MAILBEACON_SIGNING_KEYS": KEYS})
    services = build_services(settings, clock=FixedClock(START), db=db)
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Bench", START)
        project, _ = tenancy.create_project(conn, team.id, "Bench", START)
    raw = (
        "From: s@shop.example\r\nTo: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + HTML + "\r\n"
    ).encode()
    for m in range(1000):
        recipients = [(f"r{m}-{r}@x.example", "to") for r in range(5)]
        accept(
            db,
            services.instrumenter,
            project,
            Intake(
                raw=raw,
                recipients=recipients,
                source="smtp",
                from_email="s@shop.example",
                from_name=None,
                subject="s",
                to=[],
            ),
            START,
        )
    with db.write() as conn:
        conn.execute(copies.update().values(delivered_at=START, status="delivered"))
        copy_ids = [row.id for row in conn.execute(select(copies.c.id))]
    rng = random.Random(7)
    rows: list[tuple] = []
    while len(rows) < wanted:
        copy_id = rng.choice(copy_ids)
        at = START + timedelta(minutes=rng.randint(1, 600), seconds=rng.random())
        ip = f"203.0.{rng.randint(0, 255)}.0"
        scenario = rng.random()
        if scenario < 0.4:  # a person opens, maybe clicks twice
            agent = rng.choice(AGENTS)
            rows.append(_row(copy_id, 1, 0, at, "GET", agent, ip, True))
            for index in rng.sample(range(10), rng.randint(0, 2)):
                at += timedelta(minutes=rng.randint(1, 20))
                rows.append(_row(copy_id, 2, index, at, "GET", agent, ip, True))
        elif scenario < 0.6:  # Apple MPP prefetch
            rows.append(
                _row(
                    copy_id,
                    1,
                    0,
                    START + timedelta(seconds=5),
                    "GET",
                    "Mozilla/5.0",
                    "17.58.0.0",
                    False,
                )
            )
        elif scenario < 0.7:  # Gmail's proxy
            rows.append(_row(copy_id, 1, 0, at, "GET", GMAIL, "66.249.84.0", False))
        elif scenario < 0.85:  # Safe Links: every link in a second, plus the honeypot
            base = START + timedelta(seconds=45)
            rows.extend(
                _row(
                    copy_id,
                    2,
                    index,
                    base + timedelta(milliseconds=80 * index),
                    "GET",
                    AGENTS[0],
                    "40.107.3.0",
                    False,
                )
                for index in range(10)
            )
            rows.append(_row(copy_id, 3, 0, base, "GET", AGENTS[0], "40.107.3.0", False))
        elif scenario < 0.95:
            rows.append(_row(copy_id, 2, rng.randrange(10), at, "GET", SLACK, ip, False))
        else:
            rows.append(_row(copy_id, 2, rng.randrange(10), at, "HEAD", AGENTS[1], ip, False))
    db.dispose()
    return Database(url), rows[:wanted]


def _row(
    copy_id: int,
    kind: int,
    index: int,
    at: datetime,
    method: str,
    agent: str,
    ip: str,
    person: bool,
) -> tuple:
    headers = '{"accept-language":"en-GB"}' if person else "{}"
    return (
        copy_id,
        kind,
        index,
        int(at.timestamp() * 1_000_000),
        method,
        "t.example",
        ip,
        agent,
        headers,
        0,
    )


def load(db: Database, rows: list[tuple]) -> None:
    with db.write() as conn:
        conn.execute(text("DELETE FROM observations"))
        conn.execute(text("DELETE FROM events WHERE observation_id IS NOT NULL"))
        conn.execute(text("DELETE FROM stats_daily"))
        conn.exec_driver_sql(
            "INSERT INTO observations (copy_id, kind, link_index, at_us, method, host, ip, "
            "user_agent, headers, promoted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(f"preparing {args.observations} observations ...", flush=True)
        db, rows = prepare(Path(directory), args.observations)
        url = str(db.url)
        settings = load_settings({"MAILBEACON_DATABASE_URL": url, "MAILBEACON_SIGNING_KEYS": KEYS})
        services = build_services(settings, clock=FixedClock(START + timedelta(days=1)), db=db)
        load(db, rows)
        promoter = Promoter(services)
        started = time.perf_counter()
        done = 0
        while (step := promoter.run_once()) > 0:
            done += step
        ours = done / (time.perf_counter() - started)
        with db.read() as conn:
            made = conn.execute(
                select(func.count()).select_from(events).where(events.c.observation_id.is_not(None))
            ).scalar_one()
            machines = conn.execute(
                select(func.count()).select_from(events).where(events.c.machine.is_(True))
            ).scalar_one()
        load(db, rows)
        started = time.perf_counter()
        with db.write() as conn:  # the floor: move the same rows with one statement
            conn.execute(
                text(
                    "INSERT INTO events (public_id, project_id, message_id, copy_id,"
                    " observation_id, type, at, data) SELECT hex(randomblob(16)), m.project_id,"
                    " c.message_id, o.copy_id, o.id, 'message.clicked', datetime('now'), '{}'"
                    " FROM observations o JOIN copies c ON c.id = o.copy_id"
                    " JOIN messages m ON m.id = c.message_id"
                )
            )
            conn.execute(observations.update().values(promoted=True))
        floor = len(rows) / (time.perf_counter() - started)
    assert done == made == len(rows), (done, made, len(rows))
    print(f"promoted {done} observations ({machines} machine) into events and rollups")
    print(f"{'':28}{'observations/s':>16}")
    print(f"{'mailbeacon promoter':28}{ours:16,.0f}")
    print(f"{'floor: INSERT ... SELECT':28}{floor:16,.0f}")
    print(f"ratio promoter / floor: {ours / floor:.2f}")
    print(f"target >= 20,000/s: {'met' if ours >= 20_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
