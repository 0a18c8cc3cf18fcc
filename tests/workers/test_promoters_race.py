"""Two promoters in two processes racing over the same copies, on PostgreSQL and on SQLite
(issue 14): in every burst of a loop, exactly one ``first`` per copy and type, and the
counters (daily, analytics, per link) equal to what the events say.

Each burst gives new copies their first hits and old copies more, all stored at once, and
both processes promote it in passes of a few observations, so their passes share copies.
Before the copies' summaries were locked, PostgreSQL gave about one copy in ten two firsts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from mailbeacon.app import Services
from mailbeacon.core.analytics.classes import BITS, CLASSES
from mailbeacon.store.db import Database
from mailbeacon.store.observations import KIND_CLICK, KIND_HONEYPOT, KIND_OPEN
from mailbeacon.store.schema import (
    analytics_hourly,
    events,
    stats_daily,
    unpromoted,
)
from tests.support import hits as stored_hits
from tests.support import link_figures
from tests.support.delivered import delivered_copies
from tests.support.tenants import Tenant, new_tenant

ROOT = Path(__file__).resolve().parents[2]
DELIVERED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
PERSON = '{"accept-language":"en-GB"}'
HTML = "<body>" + "".join(f'<a href="https://shop.example/{i}">Item {i}</a>' for i in range(4))
BURSTS = 5
NEW_COPIES = 12  # per burst


@contextlib.contextmanager
def promoters(url: str, directory: Path, count: int = 2) -> Iterator[None]:
    stop = directory / "stop"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.promoting", url, str(stop)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        yield
    finally:
        stop.touch()
        for process in started:
            try:
                output, _ = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            assert process.returncode == 0, output
            assert "Traceback" not in output, output


def new_copies(services: Services, tenant: Tenant, number: int) -> list[int]:
    addresses = [f"r{number}-{i}@x.example" for i in range(NEW_COPIES)]
    return delivered_copies(services, tenant, HTML, addresses, DELIVERED)


def burst(db: Database, copy_ids: list[int], number: int) -> int:
    """Hits on every copy, all stored at once: people opening and clicking, an Apple MPP
    prefetch, a Slack preview, a scanner's burst over two links with the honeypot."""
    base = DELIVERED + timedelta(minutes=20 * number)
    rows: list[dict[str, Any]] = []

    def hit(copy_id: int, kind: int, after: float, **values: Any) -> None:
        at_us = int((base + timedelta(seconds=after)).timestamp() * 1_000_000)
        rows.append(
            {
                "copy_id": copy_id,
                "kind": kind,
                "link_index": values.get("link", 0),
                "at_us": at_us,
                "method": "GET",
                "host": "t.example.test",
                "ip": values.get("ip", "203.0.113.7"),
                "user_agent": values.get("agent", CHROME),
                "headers": values.get("headers", PERSON),
            }
        )

    for n, copy_id in enumerate(copy_ids):
        hit(copy_id, KIND_OPEN, 1 + n % 3, agent="Mozilla/5.0", headers="{}", ip="17.58.0.1")
        hit(copy_id, KIND_OPEN, 30 + n % 7)
        hit(copy_id, KIND_CLICK, 60 + n % 5, link=n % 4)
        hit(copy_id, KIND_OPEN, 90)
        hit(copy_id, KIND_CLICK, 120, link=(n + 1) % 4, agent=SLACK, headers="{}")
        if n % 3 == 0:
            hit(copy_id, KIND_CLICK, 200, link=0, ip="40.107.3.1", headers="{}")
            hit(copy_id, KIND_CLICK, 200.2, link=1, ip="40.107.3.1", headers="{}")
            hit(copy_id, KIND_HONEYPOT, 200.1, ip="40.107.3.1", headers="{}")
    rows.sort(key=lambda row: row["at_us"])  # as the observation writer appends them
    with db.write() as conn:
        stored_hits.store(conn, rows)
    return len(rows)


def wait_promoted(db: Database) -> None:
    deadline = time.monotonic() + 60
    while True:
        with db.read() as conn:
            left = conn.execute(select(func.count()).select_from(unpromoted)).scalar_one()
        if left == 0:
            return
        assert time.monotonic() < deadline, f"{left} observations still unpromoted"
        time.sleep(0.05)


def _one(conn: Connection, query: Any) -> int:
    return int(conn.execute(query).scalar_one() or 0)


def check_exact(db: Database, expected_events: int) -> None:
    engagement = events.c.type.in_(["message.opened", "message.clicked"])
    with db.read() as conn:
        assert _one(conn, select(func.count()).where(engagement)) == expected_events
        doubles = conn.execute(
            select(events.c.copy_id, events.c.type, func.count())
            .where(events.c.first.is_(True))
            .group_by(events.c.copy_id, events.c.type)
            .having(func.count() > 1)
        ).all()
        assert doubles == []
        stats = {
            name: _one(conn, select(func.sum(stats_daily.c[name])))
            for name in (
                "opened",
                "clicked",
                "machine_opened",
                "machine_clicked",
                "unique_opened",
                "unique_clicked",
                "unique_any_opened",
                "unique_any_clicked",
                "effective_opened",
            )
        }

        def copies_with(*where: Any) -> int:
            return _one(conn, select(func.count(events.c.copy_id.distinct())).where(*where))

        def count(*where: Any) -> int:
            return _one(conn, select(func.count()).where(*where))

        counted = events.c.counts_for_metrics.is_(True)
        for kind, event_type in (("opened", "message.opened"), ("clicked", "message.clicked")):
            of_type = events.c.type == event_type
            assert stats[kind] == count(of_type, counted)
            assert stats["machine_" + kind] == count(of_type, events.c.machine.is_(True))
            with_first = count(of_type, events.c.first.is_(True))
            assert stats["unique_" + kind] == with_first == copies_with(of_type, counted)
            assert stats["unique_any_" + kind] == copies_with(of_type)
            for name, bit in BITS.items():
                # analytics' uniques: one event per copy, kind and class carries its bit
                classes = sorted(CLASSES[name])
                marked = count(of_type, events.c.firsts.op("&")(bit) != 0)
                assert marked == copies_with(of_type, events.c.classification.in_(classes)), (
                    name,
                    kind,
                )
                unique = f"{name}_{'opens' if kind == 'opened' else 'clicks'}"
                assert _one(conn, select(func.sum(analytics_hourly.c[unique]))) == marked
        assert stats["effective_opened"] == copies_with(engagement, counted)
        assert link_figures.kept(conn) == link_figures.from_events(conn)


def test_two_promoter_processes_keep_firsts_and_counters_exact(
    make_services: Callable[..., Services], database_url: str, tmp_path: Path
) -> None:
    services = make_services(database_url)
    tenant = new_tenant(services.db, services.clock)
    made = 0
    every: list[int] = []
    with promoters(database_url, tmp_path):
        for number in range(BURSTS):
            every += new_copies(services, tenant, number)
            made += burst(services.db, every, number)
            wait_promoted(services.db)
            check_exact(services.db, made)
