"""Promotion throughput: observations classified, written as events and rolled up, per second.

SQLite in a temporary directory, one core's worth of work (the promoter is one thread):
1000 messages of 10 links to 5 recipients each, then observations on them: people opening
and clicking, Apple MPP prefetches, Gmail proxy opens, scanner bursts from Microsoft's
network, Slack previews, HEAD probes, over a few dozen user agents. Promotion runs pass after
pass until none is left, with the garbage collector tuned as where the promoter runs (serve,
worker), timed by the clock and by the process's CPU time (steadier when other work shares
the machine). Then the check: every observation promoted into exactly one event of its
kind, and the daily counters agreeing with the events (MISMATCH and exit 1 if not).
Baseline, in the same run: copying the same rows into the events table with one INSERT ...
SELECT (the database's own floor for moving them), so the ratio says what classification and
bookkeeping cost on top.

Usage: python bench/promote/run.py [--observations 100000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from mailbeacon.app import Services, build_services
from mailbeacon.clock import FixedClock
from mailbeacon.config import load_settings
from mailbeacon.gc_tuning import GcTuning
from mailbeacon.service.accept import Intake, accept
from mailbeacon.store import migrate, rollups, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.observations import KIND_OPEN
from mailbeacon.store.schema import copies, events, observations, stats_daily
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
    """Store the observations as `mailbeacon serve` does: in the order they happened. The
    observation writer appends each hit as it arrives, so ids follow time, and a pass (oldest
    first) marks neighbouring rows promoted. Stored in the order the scenarios were drawn, a
    pass would mark rows scattered over the whole table, a cost production never pays."""
    rows = sorted(rows, key=lambda row: row[3])  # at_us; stable, so ties keep their order
    with db.write() as conn:
        conn.execute(text("DELETE FROM observations"))
        conn.execute(text("DELETE FROM events WHERE observation_id IS NOT NULL"))
        conn.execute(text("DELETE FROM stats_daily"))
        conn.exec_driver_sql(
            "INSERT INTO observations (copy_id, kind, link_index, at_us, method, host, ip, "
            "user_agent, headers, promoted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def promote(services: Services) -> tuple[int, float, float]:
    """Promote everything: (observations, wall seconds, CPU seconds of the process). With the
    garbage collector tuned as in `mailbeacon serve` and `mailbeacon worker`, where the
    promoter runs: full collections skip the objects start-up made."""
    promoter = Promoter(services.db, services.clock, services.settings.settle_seconds)
    tuning = GcTuning()
    tuning.install()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        done = 0
        while (step := promoter.run_once()) > 0:
            done += step
        return done, time.perf_counter() - wall, time.process_time() - cpu
    finally:
        tuning.uninstall()


def check(db: Database, rows: list[tuple]) -> tuple[list[str], Counter[tuple[str, str]]]:
    """What does not add up (empty if all does), and the verdicts: events per (type,
    classification). Every observation is promoted into exactly one event of its kind, and
    the daily counters agree with the events they were added from."""
    wrong: list[str] = []
    with db.read() as conn:
        left = conn.execute(
            select(func.count()).where(observations.c.promoted.is_(False))
        ).scalar_one()
        made = conn.execute(
            select(func.count(), func.count(events.c.observation_id.distinct())).where(
                events.c.observation_id.is_not(None)
            )
        ).one()
        verdicts: Counter[tuple[str, str]] = Counter()
        for row in conn.execute(
            select(events.c.type, events.c.classification, func.count())
            .where(events.c.observation_id.is_not(None))
            .group_by(events.c.type, events.c.classification)
        ):
            verdicts[(row[0], row[1])] = row[2]
        kinds = Counter(
            {
                "message.opened": sum(1 for r in rows if r[1] == KIND_OPEN),
                "message.clicked": sum(1 for r in rows if r[1] != KIND_OPEN),
            }
        )
        per_type: Counter[str] = Counter()
        for (event_type, _), n in verdicts.items():
            per_type[event_type] += n
        sums = conn.execute(
            select(*(func.coalesce(func.sum(stats_daily.c[n]), 0) for n in rollups.COUNTERS))
        ).one()
        totals = dict(zip(rollups.COUNTERS, sums, strict=True))
        engaged = dict(
            conn.execute(
                select(events.c.type, func.count(events.c.copy_id.distinct()))
                .where(events.c.observation_id.is_not(None))
                .group_by(events.c.type)
            ).all()
        )
        firsts = dict(
            conn.execute(
                select(events.c.type, func.count())
                .where(events.c.first.is_(True))
                .group_by(events.c.type)
            ).all()
        )
    if left:
        wrong.append(f"{left} observations left unpromoted")
    if tuple(made) != (len(rows), len(rows)):
        wrong.append(f"{made[0]} events for {made[1]} observations, expected {len(rows)}")
    if per_type != kinds:
        wrong.append(f"events per type {dict(per_type)}, observations per kind {dict(kinds)}")
    opened, clicked = per_type["message.opened"], per_type["message.clicked"]
    expected = {
        "opened + machine_opened": (totals["opened"] + totals["machine_opened"], opened),
        "clicked + machine_clicked": (totals["clicked"] + totals["machine_clicked"], clicked),
        "human_opened": (totals["human_opened"], verdicts[("message.opened", "genuine")]),
        "privacy_opened": (
            totals["privacy_opened"],
            verdicts[("message.opened", "privacy_proxy")],
        ),
        "unique_opened": (totals["unique_opened"], firsts.get("message.opened", 0)),
        "unique_clicked": (totals["unique_clicked"], firsts.get("message.clicked", 0)),
        "unique_any_opened": (totals["unique_any_opened"], engaged.get("message.opened")),
        "unique_any_clicked": (totals["unique_any_clicked"], engaged.get("message.clicked")),
    }
    wrong += [f"{name}: counters {a}, events {b}" for name, (a, b) in expected.items() if a != b]
    return wrong, verdicts


def floor(db: Database, rows: list[tuple]) -> tuple[float, float]:
    """The database's own floor for moving the rows: (wall, CPU) seconds of one INSERT ...
    SELECT into events and one UPDATE of the observations."""
    load(db, rows)
    wall, cpu = time.perf_counter(), time.process_time()
    with db.write() as conn:
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
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="promote the same rows N times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(f"preparing {args.observations} observations ...", flush=True)
        db, rows = prepare(Path(directory), args.observations)
        url = str(db.url)
        settings = load_settings({"MAILBEACON_DATABASE_URL": url, "MAILBEACON_SIGNING_KEYS": KEYS})
        services = build_services(settings, clock=FixedClock(START + timedelta(days=1)), db=db)
        runs = []
        for _ in range(args.rounds):
            load(db, rows)
            done, wall, cpu = promote(services)
            wrong, verdicts = check(db, rows)
            if done != len(rows):
                wrong.append(f"passes promoted {done} observations, expected {len(rows)}")
            if wrong:
                for problem in wrong:
                    print(f"MISMATCH: {problem}")
                return 1
            runs.append((done / wall, done / cpu))
        floor_wall, floor_cpu = floor(db, rows)
    print(f"promoted {len(rows)} observations into as many events and their rollups (checked)")
    print("events by verdict:")
    for (event_type, kind), n in sorted(verdicts.items()):
        print(f"  {event_type:18}{kind:18}{n:8}")
    print(f"{'':28}{'observations/s':>16}{'per CPU second':>16}")
    for number, (wall_rate, cpu_rate) in enumerate(runs, 1):
        label = "mailbeacon promoter" + (f" #{number}" if args.rounds > 1 else "")
        print(f"{label:28}{wall_rate:16,.0f}{cpu_rate:16,.0f}")
    floor_rate, floor_cpu_rate = len(rows) / floor_wall, len(rows) / floor_cpu
    print(f"{'floor: INSERT ... SELECT':28}{floor_rate:16,.0f}{floor_cpu_rate:16,.0f}")
    best, best_cpu = max(r for r, _ in runs), max(c for _, c in runs)
    print(f"ratio promoter / floor: {best / floor_rate:.2f} (CPU: {best_cpu / floor_cpu_rate:.2f})")
    print(f"target >= 20,000/s: {'met' if best >= 20_000 else 'NOT met'}", end="")
    print(f" (per CPU second: {'met' if best_cpu >= 20_000 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
