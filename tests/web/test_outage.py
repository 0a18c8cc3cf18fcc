"""The central database away: clicks still answered and every answered one recorded once it
returns (the hit journal), the APIs answer a retryable 503, links known here still redirect.

Real components: a server on a free port, a PostgreSQL database of the test's own made to
refuse connections, a SQLite file whose write lock another process holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.store import observations
from mailbeacon.store.schema import copies
from tests.support import databases
from tests.support.tenants import new_tenant
from tests.web.test_tracking import send, tokens_in, tracking_urls


@contextlib.contextmanager
def postgres_away(url: str) -> Iterator[None]:
    databases.set_postgres_available(url, False)
    try:
        yield
    finally:
        databases.set_postgres_available(url, True)


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process holds the database's write lock (as a backup or `sqlite3` would)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder reads to the end, then exits: the lock is released
        holder.wait(10)
        holder.stdout.close()


def recorded(services: Services) -> int:
    with services.db.read() as conn:
        return observations.count(conn)


def wait_until_recorded(services: Services, expected: int, within: float = 20) -> int:
    """Poll (the shipper retries with pauses of up to 2 s) until ``expected`` are recorded."""
    deadline = time.monotonic() + within
    while (found := recorded(services)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


async def _steady_clicks(
    base: str, tokens: list[str], rate: float, seconds: float
) -> list[tuple[int, float]]:
    """Click ``rate`` times a second for ``seconds``; (status, seconds taken) of each."""
    results: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def click(token: str) -> None:
            started = time.monotonic()
            answer = await client.get(f"/c/{token}")
            results.append((answer.status_code, time.monotonic() - started))

        tasks = []
        start = time.monotonic()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(click(tokens[n % len(tokens)])))
        await asyncio.gather(*tasks)
    return results


def clicks_through(
    base: str,
    services: Services,
    outage: Callable[[], contextlib.AbstractContextManager[None]],
) -> list[tuple[int, float]]:
    """14 s of clicks at 20/s on the only copy's links, with ``outage`` from the 1st second to
    the 13th; checks that hits waited in the journal meanwhile (the outage was real)."""
    tokens = tracking_urls(services)["c"][1:]
    waiting: list[int] = []

    def break_then_heal() -> None:
        time.sleep(1)
        with outage():
            time.sleep(12)
            waiting.append(services.shipper.depth)

    breaker = threading.Thread(target=break_then_heal)
    breaker.start()
    try:
        results = asyncio.run(_steady_clicks(base, tokens, rate=20, seconds=14))
    finally:
        breaker.join()
    assert waiting[0] > 100, f"only {waiting[0]} hits waited for the database"
    return results


def test_every_click_answered_and_recorded_through_a_postgresql_outage(
    running: Callable[..., Any], postgres_url: str
) -> None:
    with running(postgres_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        results = clicks_through(base, services, lambda: postgres_away(postgres_url))
        statuses = {status for status, _ in results}
        assert statuses == {302}, statuses
        assert services.shipper.failures > 0  # the outage really happened
        assert wait_until_recorded(services, len(results)) == len(results)


def test_every_click_answered_at_once_while_another_process_holds_sqlite_s_lock(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        results = clicks_through(base, services, lambda: sqlite_locked(path))
        assert {status for status, _ in results} == {302}
        slowest = max(taken for _, taken in results)
        assert slowest < 0.5, f"a click waited {slowest:.2f} s"
        assert wait_until_recorded(services, len(results), within=40) == len(results)


def test_the_apis_answer_a_retryable_503_while_postgresql_is_away(
    running: Callable[..., Any], postgres_url: str
) -> None:
    with running(postgres_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        headers = {"authorization": f"Bearer {tenant.team_token}"}
        assert httpx.get(f"{base}/v1/projects", headers=headers).status_code == 200
        with postgres_away(postgres_url):
            answer = httpx.get(f"{base}/v1/projects", headers=headers, timeout=30)
            sent = httpx.post(
                f"{base}/v1/send",
                headers={"x-lettermint-token": tenant.sending_token},
                json={
                    "from": "a@shop.example",
                    "to": ["b@example.org"],
                    "subject": "s",
                    "text": "t",
                },
                timeout=30,
            )
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"].isdigit()
        assert answer.json()["error_code"] == "database_unavailable"
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert sent.status_code == 503, sent.text
        # and it heals by itself
        assert httpx.get(f"{base}/v1/projects", headers=headers).status_code == 200


def test_links_served_before_a_restart_redirect_while_postgresql_is_away(
    running: Callable[..., Any], postgres_url: str, tmp_path: Path
) -> None:
    journal_dir = str(tmp_path / "journal")
    with running(postgres_url, journal_dir=journal_dir) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        known = tracking_urls(services)["c"]
    # another process (its own journal) sends a message this one never sees
    with running(postgres_url, journal_dir=str(tmp_path / "other")) as (base, services):
        send(base, tenant.sending_token, to=["bob@example.org"])
        with services.db.read() as conn:
            raws = conn.execute(select(copies.c.raw).order_by(copies.c.id)).scalars().all()
    unknown = tokens_in(raws[-1])["c"]
    with running(postgres_url, journal_dir=journal_dir) as (base, services):  # restarted
        with postgres_away(postgres_url):
            served = httpx.get(f"{base}/c/{known[1]}")
            refused = httpx.get(f"{base}/c/{unknown[1]}")
        assert served.status_code == 302
        assert served.headers["location"] == "https://shop.example/a?x=1&y=2"
        assert refused.status_code == 503
        assert refused.headers["retry-after"].isdigit()
        assert refused.headers["content-type"].startswith("text/html")
        assert b"try again" in refused.content.lower()
        assert wait_until_recorded(services, 1) == 1  # the answered click, once it returned
