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

With ``--database postgresql`` the same runs on PostgreSQL (a database of its own, dropped
afterwards), and ``--processes 2`` promotes with two promoter processes at once: the check
then also shows that they kept ``first`` and the unique counters exact (one ``first`` per
copy and type, each unique counter equal to the copies that have such an event). Per CPU
second there counts the promoter processes' CPU, not PostgreSQL's.

``--load spread`` and ``--load hot`` replace the scenarios with clicks as bench/redirect's
whole-job runs make them (wrk: no user agent, one address, 20,000 a second in time order),
cycling through the shuffled links of 500 copies (spread) or of one copy (hot: a link posted
publicly, a bot looping): issue 14 asks a hot copy's hits to cost about what spread ones do.

Usage: python bench/promote/run.py [--observations 100000] [--rounds 1]
           [--load mixed|spread|hot] [--database sqlite|postgresql] [--postgres-url URL]
           [--processes 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, case, func, select, text
from sqlalchemy.engine import make_url

from mailbeacon.app import Services, build_services
from mailbeacon.clock import FixedClock
from mailbeacon.config import load_settings
from mailbeacon.gc_tuning import GcTuning
from mailbeacon.service.accept import Intake, accept
from mailbeacon.store import migrate, rollups, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.observations import KIND_CLICK, KIND_OPEN, insert_hits
from mailbeacon.store.schema import (
    copies,
    events,
    link_clicks,
    links,
    stats_daily,
    unpromoted,
)
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


def html(message: int) -> str:
    """A message's ten links, its own URLs (an order's pages, as bench/redirect's messages
    have): the analytics counters keep rows per distinct link, and a pass writes each link
    it touches. When every message had the same ten URLs, a spread pass here wrote ten
    links' rows where serve's wrote 2,000, and this bench measured 25 us a hit where serve's
    promoter spent 34 (bench/README.md, the eighth session)."""
    links = "".join(f'<a href="https://shop.example/{message}/{i}">Item {i}</a>' for i in range(10))
    return "<body>" + links


POSTGRES = "postgresql://postgres@127.0.0.1:5432/bench_promoter"


def recreate_postgres(url: str, *, drop_only: bool = False) -> None:
    name = make_url(url).database
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


WRK_RATE = 20_000  # clicks a second in the spread and hot loads
WRK_COPIES = 500  # the spread load's copies, as bench/redirect's 100 messages to 5 recipients


def prepare(url: str, wanted: int, shape: str = "mixed") -> tuple[Database, list[tuple]]:
    db = Database(url)
    migrate.upgrade(db)
    settings = load_settings({"MAILBEACON_DATABASE_URL": url, "MAILBEACON_SIGNING_KEYS": KEYS})
    services = build_services(settings, clock=FixedClock(START), db=db)
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Bench", START)
        project, _ = tenancy.create_project(conn, team.id, "Bench", START)
    head = (
        "From: s@shop.example\r\nTo: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    )
    for m in range(1000):
        raw = (head + html(m) + "\r\n").encode()
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
        copy_ids = [row.id for row in conn.execute(select(copies.c.id).order_by(copies.c.id))]
    if shape != "mixed":
        db.dispose()
        return Database(url), wrk_rows(copy_ids[: 1 if shape == "hot" else WRK_COPIES], wanted)
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


def wrk_rows(copy_ids: list[int], wanted: int) -> list[tuple]:
    """Clicks as wrk makes them in bench/redirect: every link of these copies, shuffled,
    clicked in turn at WRK_RATE a second, without a user agent, from loopback (truncated)."""
    links = [(copy_id, index) for copy_id in copy_ids for index in range(10)]
    random.Random(3).shuffle(links)
    begin = int((START + timedelta(minutes=5)).timestamp() * 1_000_000)
    return [
        (
            links[n % len(links)][0],
            KIND_CLICK,
            links[n % len(links)][1],
            begin + n * 1_000_000 // WRK_RATE,
            "GET",
            "t.example",
            "127.0.0.0",
            "",
            "{}",
        )
        for n in range(wanted)
    ]


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
    )


def load(db: Database, rows: list[tuple]) -> None:
    """Store the observations as `mailbeacon serve` does: in the order they happened. The
    observation writer appends each hit as it arrives, so ids follow time, and a pass (oldest
    first) reads neighbouring rows. Stored in the order the scenarios were drawn, a pass would
    read rows scattered over the whole table, a cost production never pays."""
    rows = sorted(rows, key=lambda row: row[3])  # at_us; stable, so ties keep their order
    with db.write() as conn:
        conn.execute(text("DELETE FROM observations"))
        conn.execute(text("DELETE FROM unpromoted"))
        conn.execute(text("DELETE FROM events WHERE observation_id IS NOT NULL"))
        conn.execute(text("DELETE FROM stats_daily"))
        conn.execute(text("DELETE FROM analytics_hourly"))
        conn.execute(text("DELETE FROM analytics_daily"))
        conn.execute(text("DELETE FROM copy_states"))
        conn.execute(text("DELETE FROM link_clicks"))
        insert_hits(conn, rows)  # each queued for the promoter, as the shipper does


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


def _promote_in_process(url: str) -> None:
    """One of several promoter processes: passes until no observation is left to anyone."""
    db = Database(url)
    promoter = Promoter(db, FixedClock(START + timedelta(days=1)), 5)
    tuning = GcTuning()
    tuning.install()
    try:
        while True:
            if promoter.run_once() == 0:
                with db.read() as conn:
                    waiting = conn.execute(
                        select(func.count()).select_from(unpromoted)
                    ).scalar_one()
                if waiting == 0:
                    return
                time.sleep(0.01)  # the rest is another promoter's (SKIP LOCKED)
    finally:
        tuning.uninstall()
        db.dispose()


def promote_processes(url: str, count: int, total: int) -> tuple[int, float, float]:
    """Promote everything with ``count`` promoter processes at once: (observations, wall
    seconds, CPU seconds of the promoter processes)."""
    context = multiprocessing.get_context("spawn")
    started = [context.Process(target=_promote_in_process, args=(url,)) for _ in range(count)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    for process in started:
        process.start()
    for process in started:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a promoter process exited with {process.exitcode}")
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return total, wall, cpu


def check(db: Database, rows: list[tuple]) -> tuple[list[str], Counter[tuple[str, str]]]:
    """What does not add up (empty if all does), and the verdicts: events per (type,
    classification). Every observation is promoted into exactly one event of its kind, and
    the daily counters and the links' counters agree with the events they were added from."""
    wrong: list[str] = []
    with db.read() as conn:
        left = conn.execute(select(func.count()).select_from(unpromoted)).scalar_one()
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
        counted_copies = dict(
            conn.execute(
                select(events.c.type, func.count(events.c.copy_id.distinct()))
                .where(events.c.counts_for_metrics.is_(True))
                .group_by(events.c.type)
            ).all()
        )
        engaged_copies = conn.execute(
            select(func.count(events.c.copy_id.distinct())).where(
                events.c.counts_for_metrics.is_(True)
            )
        ).scalar_one()
        link_counts = _link_counts_from_events(conn)
        kept_links = {
            (row[0], row[1]): tuple(row[2:])
            for row in conn.execute(select(link_clicks)).all()
            if row.human_events or row.machine_events
        }
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
        "unique_any_opened": (totals["unique_any_opened"], engaged.get("message.opened", 0)),
        "unique_any_clicked": (totals["unique_any_clicked"], engaged.get("message.clicked", 0)),
        # exact across promoters: one first per copy that has a countable event of the type
        "first opens": (firsts.get("message.opened", 0), counted_copies.get("message.opened", 0)),
        "first clicks": (
            firsts.get("message.clicked", 0),
            counted_copies.get("message.clicked", 0),
        ),
        "effective_opened": (totals["effective_opened"], engaged_copies),
    }
    wrong += [f"{name}: counters {a}, events {b}" for name, (a, b) in expected.items() if a != b]
    if kept_links != link_counts:
        differ = sorted(
            k
            for k in kept_links.keys() | link_counts.keys()
            if kept_links.get(k) != link_counts.get(k)
        )
        wrong.append(
            f"links' counters disagree with the events for {len(differ)} links, e.g. {differ[:3]}"
        )
    return wrong, verdicts


def _link_counts_from_events(conn: Connection) -> dict[tuple[int, int], tuple[int, ...]]:
    """Per link of a message, from its click events: recipients with a countable click,
    such clicks, recipients with a machine click, such clicks (what link_clicks keeps)."""

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    per_copy = (
        select(
            events.c.message_id,
            events.c.link_index,
            count(events.c.counts_for_metrics.is_(True)).label("human"),
            count(events.c.machine.is_(True)).label("machine"),
        )
        .join(
            links,
            (links.c.message_id == events.c.message_id)
            & (links.c.link_index == events.c.link_index),
        )
        .where(events.c.type == "message.clicked")
        .group_by(events.c.message_id, events.c.link_index, events.c.copy_id)
        .subquery()
    )
    rows = conn.execute(
        select(
            per_copy.c.message_id,
            per_copy.c.link_index,
            count(per_copy.c.human > 0),
            func.sum(per_copy.c.human),
            count(per_copy.c.machine > 0),
            func.sum(per_copy.c.machine),
        ).group_by(per_copy.c.message_id, per_copy.c.link_index)
    ).all()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows if row[3] or row[5]}


def floor(db: Database, rows: list[tuple]) -> tuple[float, float]:
    """The database's own floor for moving the rows: (wall, CPU) seconds of one INSERT ...
    SELECT into events and one DELETE of the promoter's queue (CPU: this process's, and on
    PostgreSQL the server's work is not in it)."""
    load(db, rows)
    public_id = "hex(randomblob(16))" if db.is_sqlite else "md5(o.id::text)"
    now = "datetime('now')" if db.is_sqlite else "now()"
    wall, cpu = time.perf_counter(), time.process_time()
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO events (public_id, project_id, message_id, copy_id,"
                f" observation_id, type, at, data) SELECT {public_id}, m.project_id,"
                f" c.message_id, o.copy_id, o.id, 'message.clicked', {now}, '{{}}'"
                " FROM observations o JOIN copies c ON c.id = o.copy_id"
                " JOIN messages m ON m.id = c.message_id"
            )
        )
        conn.execute(unpromoted.delete())
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="promote the same rows N times")
    parser.add_argument(
        "--load",
        choices=("mixed", "spread", "hot"),
        default="mixed",
        help="the scenarios (mixed), or wrk-like clicks over 500 copies (spread) or one (hot)",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES, help="a database to (re)create")
    parser.add_argument("--processes", type=int, default=1, help="promoter processes at once")
    args = parser.parse_args()
    postgres = args.database == "postgresql"
    with tempfile.TemporaryDirectory() as directory:
        url = args.postgres_url if postgres else f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        if postgres:
            recreate_postgres(url)
        try:
            print(f"preparing {args.observations} observations ...", flush=True)
            db, rows = prepare(url, args.observations, args.load)
            settings = load_settings(
                {"MAILBEACON_DATABASE_URL": url, "MAILBEACON_SIGNING_KEYS": KEYS}
            )
            clock = FixedClock(START + timedelta(days=1))
            services = build_services(settings, clock=clock, db=db)
            runs = []
            for _ in range(args.rounds):
                load(db, rows)
                if args.processes > 1:
                    done, wall, cpu = promote_processes(url, args.processes, len(rows))
                else:
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
            db.dispose()
        finally:
            if postgres:
                recreate_postgres(url, drop_only=True)
    where = "PostgreSQL" if postgres else "SQLite"
    print(f"{where}, {args.processes} promoter process(es), load {args.load}")
    print(f"promoted {len(rows)} observations into as many events and their rollups (checked)")
    print("events by verdict:")
    for (event_type, kind), n in sorted(verdicts.items()):
        print(f"  {event_type:18}{kind:18}{n:8}")
    print(f"{'':28}{'observations/s':>16}{'per CPU second':>16}")
    for number, (wall_rate, cpu_rate) in enumerate(runs, 1):
        label = "mailbeacon promoter" + (f" #{number}" if args.rounds > 1 else "")
        print(f"{label:28}{wall_rate:16,.0f}{cpu_rate:16,.0f}")
    floor_rate, floor_cpu_rate = len(rows) / floor_wall, len(rows) / floor_cpu
    best, best_cpu = max(r for r, _ in runs), max(c for _, c in runs)
    if postgres:  # the floor's work is the server's: this process's CPU says nothing
        print(f"{'floor: INSERT ... SELECT':28}{floor_rate:16,.0f}{'-':>16}")
        print(f"ratio promoter / floor: {best / floor_rate:.2f}")
    else:
        print(f"{'floor: INSERT ... SELECT':28}{floor_rate:16,.0f}{floor_cpu_rate:16,.0f}")
        print(
            f"ratio promoter / floor: {best / floor_rate:.2f} "
            f"(CPU: {best_cpu / floor_cpu_rate:.2f})"
        )
    print(f"target >= 20,000/s: {'met' if best >= 20_000 else 'NOT met'}", end="")
    print(f" (per CPU second: {'met' if best_cpu >= 20_000 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
