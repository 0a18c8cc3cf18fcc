"""Webhook deliveries per second: from the outbox to a receiver on loopback.

SQLite in a temporary directory. The outbox is filled with N ``message.clicked`` deliveries
(real payloads, ~1 KB) spread over a few webhooks, all pointing at one receiver: a minimal
asyncio HTTP/1.1 server in its own process (it answers every request ``200 ok`` on a kept-alive
connection and counts them). The dispatcher worker then runs as ``mailbeacon worker`` runs
it (parallel passes, per-endpoint concurrency, both signatures, one transaction per pass to
record the attempts) until the outbox is empty. Baseline, in the same run: the same number of
plain aiohttp POSTs (the dispatcher's own HTTP client) of the same body, at the same
concurrency, with no outbox, signing or recording; the ratio says what the outbox costs on top
of HTTP itself.

Afterwards it checks that the receiver got every request and that every delivery is recorded
as a success; otherwise it exits 1.

Usage: python bench/webhooks/run.py [--deliveries 10000] [--endpoints 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from sqlalchemy import func, select

from mailbeacon.app import Services, build_services, build_workers
from mailbeacon.config import load_settings
from mailbeacon.core.events import Event
from mailbeacon.core.webhooks.payloads import MessageFacts, encode, payload
from mailbeacon.store import migrate, tenancy, webhooks
from mailbeacon.store.db import Database
from mailbeacon.store.ids import new_id
from mailbeacon.store.schema import webhook_deliveries

KEYS = "1:" + "bench-signing-key-0123456789abcdefgh"
TARGET = 2000.0  # deliveries per second (the issue)
DEADLINE_SECONDS = 300.0
NOW = datetime.now(UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MESSAGE = MessageFacts(
    public_id=new_id(),
    subject="Your order #1001 has shipped",
    metadata={"order_id": "1001", "customer": "c_7781"},
    tag="shipping",
    from_email="orders@shop.example",
    from_name="Shop",
    recipients=(("ann@example.org", "to"),),
    track_opens=True,
    track_clicks=True,
    transactional=True,
    created_at=NOW,
)
CLICK = Event(
    public_id="e-1",
    project_id=1,
    message_id=1,
    type="message.clicked",
    at=NOW,
    recipient="ann@example.org",
    link_index=2,
    url="https://shop.example/orders/1001/track?utm_source=email&utm_medium=shipping",
    anchor_text="Track your parcel",
    first=True,
    classification="genuine",
    probability=4,
    machine=False,
    counts_for_metrics=True,
    device_type="desktop",
    client_type="browser",
    client_name="Chrome",
    user_agent=CHROME,
)


# --- the receiver (its own process) -----------------------------------------------------------


class _Receiver(asyncio.Protocol):
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's is not an asyncio.Transport subclass
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            _Receiver.count += 1
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Receiver, "127.0.0.1", 0, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(f"received {_Receiver.count}", flush=True)


@contextlib.contextmanager
def receiver() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        assert line[:1] == ["ready"], f"the receiver did not start: {line}"
        yield f"http://127.0.0.1:{line[1]}", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def received(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return int(output.split()[-1])


# --- the outbox -------------------------------------------------------------------------------


def prepare(directory: Path, base: str, endpoints: int) -> Services:
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    settings = load_settings(
        {
            "MAILBEACON_DATABASE_URL": url,
            "MAILBEACON_SIGNING_KEYS": KEYS,
            "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        }
    )
    services = build_services(settings, db=db)
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Bench", NOW)
        for number in range(endpoints):
            webhooks.create_webhook(
                conn,
                team.id,
                NOW,
                name=f"Endpoint {number}",
                url=f"{base}/hooks/{number}",
                format="lettermint",
                events=["message.clicked"],
                enabled=True,
                include_machine_events=False,
                scope="team",
                project_ids=[],
                route_ids=[],
                delivery_mode_filter="both",
            )
    return services


def fill(services: Services, count: int) -> int:
    """``count`` due deliveries, round robin over the webhooks; the body size."""
    with services.db.write() as conn:
        hooks = [w.id for w in webhooks.list_webhooks(conn, 1)]
        rows = []
        for number in range(count):
            public_id = new_id()
            body = encode(payload("lettermint", "message.clicked", public_id, CLICK, MESSAGE))
            rows.append(
                {
                    "public_id": public_id,
                    "webhook_id": hooks[number % len(hooks)],
                    "event_type": "message.clicked",
                    "sandbox": False,
                    "payload": body.decode(),
                    "status": "pending",
                    "attempt_number": 0,
                    "next_retry_at": NOW,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        conn.execute(webhook_deliveries.insert(), rows)
    return len(body)


def pending(services: Services) -> int:
    """Deliveries with an attempt to come (an index range: cheap to ask while it runs)."""
    with services.db.read() as conn:
        query = select(func.count()).where(webhook_deliveries.c.next_retry_at.is_not(None))
        return int(conn.execute(query).scalar_one())


def successes(services: Services) -> int:
    with services.db.read() as conn:
        query = select(func.count()).where(webhook_deliveries.c.status == "success")
        return int(conn.execute(query).scalar_one())


async def dispatch(services: Services, count: int) -> float:
    """Seconds for the dispatcher worker to empty the outbox (a failed attempt leaves its
    delivery pending, and the run ends at the deadline with a mismatch)."""
    stop = asyncio.Event()
    started = time.perf_counter()
    deadline = started + DEADLINE_SECONDS
    worker = asyncio.create_task(build_workers(services, only=["dispatcher"])["dispatcher"](stop))
    while await asyncio.to_thread(pending, services) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)  # polling for the end, not pacing the work
    elapsed = time.perf_counter() - started
    stop.set()
    await worker
    return elapsed


async def baseline(base: str, count: int, concurrency: int, body: bytes) -> float:
    """Seconds for ``count`` plain aiohttp POSTs of ``body``, ``concurrency`` at a time, with
    one session (as its documentation advises) and its default connector, unlimited."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(number: int) -> None:
            async with (
                gate,
                session.post(f"{base}/hooks/{number % 4}", data=body, headers=headers) as answer,
            ):
                await answer.read()
                answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(count)))
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="report the best of N runs")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(_serve())
        return 0
    count, endpoints = args.deliveries, args.endpoints
    best_outbox = best_plain = float("inf")
    ok = True
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp, receiver() as (base, process):
            services = prepare(Path(tmp), base, endpoints)
            size = fill(services, count)
            concurrency = services.settings.webhook_concurrency_per_endpoint * endpoints
            outbox = uvloop.run(dispatch(services, count))  # as `mailbeacon worker` runs it
            plain = uvloop.run(baseline(base, count, concurrency, b"x" * size))
            done = successes(services)
            services.db.dispose()
            got = received(process)
        best_outbox, best_plain = min(best_outbox, outbox), min(best_plain, plain)
        if got != 2 * count or done != count:
            print(f"MISMATCH: receiver got {got} of {2 * count}, {done} of {count} successes")
            ok = False
    rate, plain_rate = count / best_outbox, count / best_plain
    print(
        f"outbox -> receiver: {count} deliveries of {size} bytes to {endpoints} endpoints "
        f"({concurrency} at once), SQLite, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"  dispatcher:         {rate:8,.0f} deliveries/s  ({best_outbox:.2f} s)")
    print(f"  plain aiohttp POST: {plain_rate:8,.0f} requests/s    ({best_plain:.2f} s)")
    print(f"  ratio: {rate / plain_rate:.2f}x plain aiohttp")
    verdict = "met" if rate >= TARGET else "NOT met"
    print(f"  target >= {TARGET:,.0f} deliveries/s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
