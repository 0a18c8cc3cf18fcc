"""Analytics at scale: POST /v1/analytics and a big message's events, over HTTP, on SQLite and
PostgreSQL.

Per database: a fresh migrated database, a project, then N events (default 10 million)
generated in SQL (a recursive CTE on SQLite, generate_series on PostgreSQL) over the last
90 days: N/10 messages, each with its own tag (so a million tags at full size), two
recipients on 50 domains, a creation, two deliveries (one in twenty refused), four opens
(people, Apple MPP, a scanner) and three clicks (people, a Slack preview) on links shared by
a thousand campaigns; plus one message with 200,000 events. The analytics counters are then
rebuilt from the events in SQL (store/analytics_rollups.rebuild: the same SQL as the exact
path, grouped by the counters' keys), which is what the writer keeps event by event.

Then `mailbeacon serve` runs as a separate process and is asked, over one kept-alive HTTP
connection, each query several times (the median is reported):

- summary plus the daily time series over 90 days (the hourly counters);
- the top 50 tags and the top 50 links (the per-dimension daily counters);
- one page of the big message's events (GET /v1/messages/{id}/events), first and last page.

The peak resident memory (VmHWM) of the process that answers (granian's worker) is read at
the end, and that of the whole process group summed (with the launcher's start-up peak).
Each figure is printed with its target and whether it is met.

Usage: python bench/analytics/run.py [--events 10000000] [--database sqlite|postgresql|both]
       [--big-events 200000] [--repeat 7] [--postgres-url postgresql://postgres@127.0.0.1/test]
       [--keep NAME [--drop]]

--keep NAME keeps the generated databases (/tmp/NAME_<key>.sqlite3, PostgreSQL NAME_<key>;
the key is the generator's version and the sizes) and reuses them in later runs with the
same NAME; --keep NAME --drop deletes them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from mailbeacon.clock import SystemClock
from mailbeacon.config import load_settings
from mailbeacon.store import analytics_rollups, migrate, schema, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.schema import analytics_daily, analytics_hourly, routes
from mailbeacon.workers.retention import Retention, RetentionPolicy

TARGETS_MS = {"summary": 50.0, "tag": 100.0, "link": 100.0, "events": 20.0}
TARGET_RSS_MB = 250.0
PER_MESSAGE = 10  # events per generated message
DAYS = 90
BIG_ID = "00000000-0000-4000-8000-b16b16b16b16"


@dataclass
class Dialect:
    """The few spellings the generating SQL differs in."""

    name: str
    series: Callable[[str], str]  # a FROM clause of integers i from 1 to a bound parameter
    uuid: Callable[[str], str]
    at: Callable[[str], str]  # a timestamp from Unix seconds
    json: Callable[[str], str]
    blob: str
    true: str


SQLITE = Dialect(
    "sqlite",
    lambda bound: (
        f"(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        f"WHERE i < {bound}) SELECT i FROM n)"
    ),
    lambda i: f"printf('00000000-0000-4000-8000-%012d', {i})",
    lambda s: f"strftime('%Y-%m-%d %H:%M:%S', {s}, 'unixepoch') || '.000000'",
    lambda j: f"'{j}'",
    "X''",
    "1",
)
POSTGRES = Dialect(
    "postgresql",
    lambda bound: f"(SELECT i FROM generate_series(1, {bound}) AS i)",
    lambda i: f"'00000000-0000-4000-8000-' || lpad(({i})::text, 12, '0')",
    lambda s: f"(to_timestamp({s}) AT TIME ZONE 'UTC')",
    lambda j: f"'{j}'::json",
    "'\\x'::bytea",
    "true",
)


def generate(db: Database, events: int, big: int, now: datetime) -> tuple[str, int, float]:
    """The team token and the project's id after filling the database; seconds it took."""
    d = SQLITE if db.is_sqlite else POSTGRES
    started = time.perf_counter()
    with db.write() as conn:
        team, team_token = tenancy.create_team(conn, "Bench", now - timedelta(days=DAYS + 1))
        project, _ = tenancy.create_project(conn, team.id, "Bench", now - timedelta(days=DAYS + 1))
        route_id = conn.execute(
            select(routes.c.id).where(routes.c.project_id == project.id)
        ).scalar_one()
    count = max(1, events // PER_MESSAGE)
    base = int((now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0).timestamp())
    span = (DAYS - 1) * 86400 + 20 * 3600  # up to 20:00 today at the latest
    step = span / count
    message_sql = f"""
        INSERT INTO messages (id, public_id, project_id, route_id, source, status, from_email,
            subject, "to", cc, bcc, reply_to, tag, tags, metadata, attachments, raw,
            transactional, track_opens, track_clicks, status_changed_at, created_at)
        SELECT i, {d.uuid("i")}, {project.id}, {route_id}, 'lettermint', 'delivered',
            'news@shop.example', 'Hello', {d.json("[]")}, {d.json("[]")}, {d.json("[]")},
            {d.json("[]")}, 'tag-' || i, {d.json("[]")}, {d.json("{}")}, {d.json("[]")},
            {d.blob}, {d.true}, {d.true}, {d.true}, {d.at(f"{base} + CAST(i * {step} AS INTEGER)")},
            {d.at(f"{base} + CAST(i * {step} AS INTEGER)")}
        FROM {d.series(str(count + 1))} AS n"""
    # event i of message m = (i - 1) / 10 + 1, its k-th = (i - 1) % 10
    kinds = {
        0: "'message.created'",
        1: "'message.sent'",
        2: "CASE WHEN m % 20 = 0 THEN 'message.failed' ELSE 'message.sent' END",
        **dict.fromkeys((3, 4, 5, 6), "'message.opened'"),
        **dict.fromkeys((7, 8, 9), "'message.clicked'"),
    }
    classes = {3: "genuine", 4: "genuine", 5: "privacy_proxy", 6: "security_scanner",
               7: "genuine", 8: "genuine", 9: "link_preview"}  # fmt: skip
    firsts = {3: 1 | 32, 5: 2, 6: 8 | 16, 7: 1 | 32, 9: 4 | 16}  # core/analytics/classes BITS

    def case(values: dict[int, Any], default: str = "NULL") -> str:
        whens = " ".join(f"WHEN {k} THEN {v}" for k, v in values.items())
        return f"CASE k {whens} ELSE {default} END"

    refused, nothing = d.json('{"permanent": true}'), d.json("{}")
    data = case(
        {
            0: d.json('{"recipients": 2}'),
            2: f"CASE WHEN m % 20 = 0 THEN {refused} ELSE {nothing} END",
        },
        nothing,
    )
    event_sql = f"""
        INSERT INTO events (id, public_id, project_id, message_id, copy_id, type, at, recipient,
            link_index, url, first, classification, machine, counts_for_metrics, client_name,
            device_type, proxy_type, family, data, firsts)
        SELECT i, {d.uuid("i")}, {project.id}, m,
            CASE WHEN k = 0 THEN NULL ELSE m * 2 + k % 2 END,
            {case(kinds)},
            {d.at(f"{base} + CAST(m * {step} AS INTEGER) + k * 600")},
            CASE WHEN k = 0 THEN NULL ELSE 'r' || (k % 2) || '-' || m || '@d' || (m % 50)
                || '.example' END,
            CASE WHEN k >= 7 THEN k - 7 END,
            CASE WHEN k >= 7 THEN 'https://shop.example/c/' || (m % 1000) || '/' || (k - 7) END,
            CASE WHEN k IN (3, 7) THEN {d.true} END,
            {case({k: f"'{v}'" for k, v in classes.items()})},
            CASE WHEN k IN (5, 6, 9) THEN {d.true} WHEN k >= 3 THEN NOT {d.true} END,
            CASE WHEN k IN (3, 4, 7, 8) THEN {d.true} WHEN k >= 3 THEN NOT {d.true} END,
            CASE WHEN k IN (3, 4, 7, 8) THEN 'Chrome' END,
            CASE WHEN k IN (3, 4, 7, 8) THEN 'desktop' END,
            CASE WHEN k = 5 THEN 'apple_mpp' END,
            CASE WHEN k = 6 THEN 'microsoft' WHEN k = 9 THEN 'slack' END,
            {data},
            {case(firsts, "CASE WHEN k >= 3 THEN 0 END")}
        FROM (SELECT i, (i - 1) / {PER_MESSAGE} + 1 AS m, (i - 1) % {PER_MESSAGE} AS k
              FROM {d.series(str(count * PER_MESSAGE))} AS n) AS e"""
    big_sql = f"""
        INSERT INTO events (id, public_id, project_id, message_id, copy_id, type, at, recipient,
            classification, machine, counts_for_metrics, data, firsts)
        SELECT {count * PER_MESSAGE} + i, {d.uuid(f"{count * PER_MESSAGE} + i")}, {project.id},
            {count + 1}, {count * 2 + 5}, 'message.opened',
            {d.at(f"{base} + CAST(i * {span / max(big, 1)} AS INTEGER)")}, 'big@d0.example',
            'genuine', NOT {d.true}, {d.true}, {d.json("{}")}, CASE WHEN i = 1 THEN 33 ELSE 0 END
        FROM {d.series(str(big))} AS n"""

    def run(sql: str) -> None:  # psycopg reads % as a placeholder
        conn.exec_driver_sql(sql if db.is_sqlite else sql.replace("%", "%%"))

    with db.write() as conn:
        _bulk_settings(conn, db.is_sqlite)
        # A bulk load into indexed tables updates every index row by row, in random order for
        # most; building the indexes afterwards sorts once (several times faster at 10M rows).
        dropped = [*schema.messages.indexes, *schema.events.indexes]
        for index in dropped:
            index.drop(conn)
        run(message_sql)
        conn.exec_driver_sql(
            f"UPDATE messages SET public_id = '{BIG_ID}', tag = 'big' WHERE id = {count + 1}"
        )
        run(event_sql)
        if big:
            run(big_sql)
        for index in dropped:
            index.create(conn)
        if not db.is_sqlite:  # ids were given: move the sequences past them
            for table in ("messages", "events"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    rolled = roll_up(db, project.id)
    print(f"  {db.dialect}: rows in {time.perf_counter() - started - rolled:.0f} s, "
          f"counters in {rolled:.0f} s", file=sys.stderr)  # fmt: skip
    return team_token, project.id, time.perf_counter() - started


def _bulk_settings(conn: Any, sqlite: bool) -> None:
    """A bench's load needs no durability and no foreign key checks (its ids are made
    consistent by construction)."""
    if sqlite:
        conn.exec_driver_sql("PRAGMA cache_size=-1048576")  # 1 GiB: the indexes being built
        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    else:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK triggers


def roll_up(db: Database, project_id: int) -> float:
    """The analytics counters rebuilt from the events (as the writer keeps them), and the
    planner's statistics; seconds it took."""
    started = time.perf_counter()
    with db.write() as conn:
        _bulk_settings(conn, db.is_sqlite)
        analytics_rollups.rebuild(conn, [project_id])
    vacuum(db)
    return time.perf_counter() - started


def vacuum(db: Database) -> None:
    """Fresh planner statistics; on PostgreSQL no dead rows (a migration that updates the
    counters leaves a dead version of each row it touched until autovacuum runs) and the
    visibility map index-only scans need."""
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def rollup_rows(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        hourly = conn.execute(text(f"SELECT count(*) FROM {analytics_hourly.name}")).scalar_one()
        daily = conn.execute(text(f"SELECT count(*) FROM {analytics_daily.name}")).scalar_one()
    return int(hourly), int(daily)


@contextlib.contextmanager
def serving(url: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """`mailbeacon serve` on a free port: its base URL and process group."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBEACON_")}
    env |= {
        "MAILBEACON_DATABASE_URL": url,
        "MAILBEACON_ENVIRONMENT": "development",
        "MAILBEACON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MAILBEACON_HOST": "127.0.0.1",
        "MAILBEACON_PORT": str(port),
        "MAILBEACON_SMTP_PORT": "0",
        "MAILBEACON_SETTLE_SECONDS": "3600",
    }
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbeacon", "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((tmp / "serve.log").read_text()[-2000:])
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/v1/ping", timeout=2)
                break
            time.sleep(0.2)
        yield base, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def peak_rss_mb(group: int) -> tuple[float, float]:
    """VmHWM of the process that answers (granian's worker: the process group's members but
    its leader) and of the whole group summed, in MB (Linux /proc). The leader only checks
    the schema and starts granian: its start-up peak (alembic's imports) is no query's, and
    the sum counts the pages the two share twice."""
    worker = total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != group:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
                    if int(entry.name) != group:
                        worker = max(worker, int(line.split()[1]))
        except OSError:
            continue
    return worker / 1024, total / 1024


def timed(client: httpx.Client, repeat: int, request: Callable[[], httpx.Response]) -> float:
    """Median milliseconds of ``repeat`` requests, after one to warm up."""
    answer = request()
    answer.raise_for_status()
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        request().raise_for_status()
        found.append((time.perf_counter() - started) * 1000)
    return statistics.median(found)


def measure(base: str, token: str, now: datetime, repeat: int) -> dict[str, float]:
    window = {
        "from": (now - timedelta(days=DAYS - 1)).date().isoformat(),
        "to": now.date().isoformat(),
    }
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:

        def analytics(body: dict[str, Any]) -> Callable[[], httpx.Response]:
            return lambda: client.post("/v1/analytics", json={**window, **body})

        found = {
            "summary": timed(client, repeat, analytics({
                "metrics": ["messages", "delivered", "bounced", "human_opens", "privacy_opens",
                            "machine_clicks", "delivery_rate", "human_open_rate"],
                "include": ["summary", "time_series"],
            })),
            "tag": timed(client, repeat, analytics({
                "metrics": ["delivered", "human_opens", "human_open_rate"],
                "include": ["breakdown"], "group_by": ["tag"], "limit": 50,
                "sort": {"metric": "human_opens", "direction": "desc"},
            })),
            "link": timed(client, repeat, analytics({
                "metrics": ["human_clicks", "bot_clicks_events"],
                "include": ["breakdown"], "group_by": ["link"], "limit": 50,
                "sort": {"metric": "human_clicks", "direction": "desc"},
            })),
        }  # fmt: skip
        events = f"/v1/messages/{BIG_ID}/events"
        first = timed(client, repeat, lambda: client.get(events))
        last = timed(client, repeat, lambda: client.get(events, params={"sort": "-timestamp"}))
        found["events"] = max(first, last)
    return found


def postgres_database(
    admin_url: str, name: str | None = None, *, reuse: bool = False
) -> Iterator[str]:
    """A fresh database, dropped at the end; or, with ``name``, the database kept under that
    name (with ``reuse``, the one there if any), never dropped here."""
    kept = name is not None
    name = name or f"mb_bench_analytics_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not reuse:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not reuse or not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not kept:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Bump when generate() makes different rows: kept databases of another version are not reused.
GENERATOR_VERSION = 2


@dataclass
class Prepared:
    url: str
    token: str
    now: datetime
    note: str


@contextlib.contextmanager
def prepared(kind: str, args: argparse.Namespace, tmp: Path) -> Iterator[Prepared]:
    """A migrated database filled by :func:`generate`. With ``--keep NAME`` it is kept (the
    SQLite file /tmp/NAME_<key>.sqlite3, the PostgreSQL database NAME_<key>, the key being the
    generator's version and sizes) and reused by the next run with the same NAME, migrated
    to the code's schema (migrations keep counters right, so they are not rolled up again)."""
    key = f"v{GENERATOR_VERSION}_{args.events}_{args.big_events}"
    kept = f"{args.keep}_{key}" if args.keep else None
    state = Path(f"/tmp/{kept}-{kind}.json") if kept else None
    known = json.loads(state.read_text()) if state and state.exists() else None
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            path = Path(f"/tmp/{kept}.sqlite3") if kept else tmp / "bench.sqlite3"
            if known is None:  # a load that did not finish leaves a file to start again
                for leftover in path.parent.glob(f"{path.name}*"):
                    leftover.unlink()
            url = f"sqlite:///{path}"
        else:
            url = stack.enter_context(
                contextlib.contextmanager(postgres_database)(
                    args.postgres_url, kept, reuse=known is not None
                )
            )
        db = Database(url, sqlite_synchronous="off")  # a bench's load needs no durability
        if known is None:
            migrate.upgrade(db)
            now = datetime.now(UTC)
            token, project, seconds = generate(db, args.events, args.big_events, now)
            known = {"token": token, "now": now.isoformat(), "seconds": seconds}
            known["project"] = project
            known["revision"] = migrate.current_revision(db)
            if state:
                state.write_text(json.dumps(known))
        else:  # migrations keep the counters right: nothing to roll up again
            started = time.perf_counter()
            migrate.upgrade(db)
            if known["revision"] != migrate.current_revision(db):
                vacuum(db)  # what a migration's updates left behind, as autovacuum would
                print(
                    f"  {kind}: migrated in {time.perf_counter() - started:.0f} s", file=sys.stderr
                )
                known["revision"] = migrate.current_revision(db)
                state.write_text(json.dumps(known))  # type: ignore[union-attr]
        caught_up(db, kind)
        hourly, daily = rollup_rows(db)
        db.dispose()
        total = args.events + args.big_events
        note = (f"{total:,} events, {hourly:,} hourly + {daily:,} daily counter rows, "
                f"generated and rolled up in {known['seconds']:.0f} s")  # fmt: skip
        yield Prepared(url, known["token"], datetime.fromisoformat(known["now"]), note)


def caught_up(db: Database, kind: str) -> None:
    """The retention a server running with the default settings would have done already
    (message bodies older than 28 days, ...): a generated database holds 90 days at once, and
    the purge of that backlog, 500 rows at a time in the server's background, would be timed
    with the queries (mailbeacon serve runs it on start). Bigger batches here, same work."""
    settings = load_settings({"MAILBEACON_ENVIRONMENT": "development"})
    started = time.perf_counter()
    retention = Retention(db, SystemClock(), RetentionPolicy.from_settings(settings), batch=20_000)
    done = retention.run_until_done()
    if any(done.values()):
        vacuum(db)
        rows = ", ".join(f"{name} {count:,}" for name, count in done.items() if count)
        print(f"  {kind}: retention caught up in {time.perf_counter() - started:.0f} s ({rows})",
              file=sys.stderr)  # fmt: skip


def drop_kept(args: argparse.Namespace) -> None:
    """--drop: delete every database kept under --keep's name (all versions and sizes)."""
    for path in Path("/tmp").glob(f"{args.keep}_v*"):
        if path.is_dir():  # the hit journals of the servers that ran on it
            shutil.rmtree(path)
        else:
            path.unlink()
        print(f"deleted {path}", file=sys.stderr)
    with psycopg.connect(args.postgres_url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{args.keep}\\_v%",)
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped {name}", file=sys.stderr)


def run_one(kind: str, args: argparse.Namespace, tmp: Path) -> tuple[dict[str, float], str]:
    with prepared(kind, args, tmp) as ready, serving(ready.url, tmp) as (base, group):
        found = measure(base, ready.token, ready.now, args.repeat)
        found["rss"], found["rss_group"] = peak_rss_mb(group)
    return found, ready.note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--big-events", type=int, default=200_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "MAILBEACON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--keep", metavar="NAME", help="keep the databases, reuse kept ones")
    parser.add_argument("--drop", action="store_true", help="drop --keep's databases and stop")
    args = parser.parse_args()
    if args.drop:
        drop_kept(args)
        return 0
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = {}
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            results[kind] = run_one(kind, args, Path(tmp))
    ok = True
    labels = {
        "summary": "summary + daily series, 90 days",
        "tag": "top 50 tags, 90 days",
        "link": "top 50 links, 90 days",
        "events": "a 200,000-event message, one page",
    }
    for kind, (found, note) in results.items():
        print(f"{kind}: {note}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        for name, label in labels.items():
            target = TARGETS_MS[name]
            met = found[name] <= target
            ok &= met
            print(
                f"  {label:36} {found[name]:8.1f} ms  (target <= {target:.0f} ms: "
                f"{'met' if met else 'NOT met'}, {found[name] / target:.2f}x target)"
            )
        met = found["rss"] <= TARGET_RSS_MB
        ok &= met
        print(
            f"  {'peak RSS of the serving process':36} {found['rss']:8.0f} MB  "
            f"(target <= {TARGET_RSS_MB:.0f} MB: {'met' if met else 'NOT met'}; "
            f"{found['rss_group']:.0f} MB with its launcher's start-up peak added)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
