"""A worker killed mid-pass, as real processes on PostgreSQL: the recipient copies or webhook
deliveries it held are picked up by another worker as soon as its lease runs out (issue #13).

The first worker's SMTP upstream or webhook receiver accepts connections and never answers, so
it is caught holding its work when it is killed (kill -9: nothing is released). The lease is
3 s here (MAILBEACON_LEASE_SECONDS; a minute by default).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.store.db import Database
from mailbeacon.store.schema import copies, webhook_deliveries
from tests.conftest import SIGNING_KEYS
from tests.support.process import MAILBEACON
from tests.support.receiver import Receiver
from tests.support.server import free_port, serve_in_thread
from tests.support.smtp_server import upstream_server
from tests.support.tenants import new_tenant

LEASE_SECONDS = 3


@contextlib.contextmanager
def silent_listener(port: int) -> Iterator[None]:
    """Connections to ``port`` are accepted by the kernel and then nothing is ever said."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        yield


@contextlib.contextmanager
def worker(only: str, env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    with open(cwd / f"worker-{time.monotonic_ns()}.log", "w") as log:
        process = subprocess.Popen(
            [MAILBEACON, "worker", "--only", only],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


@pytest.fixture
def queued(running: Callable[..., Any], postgres_url: str) -> tuple[str, int]:
    """A message to one recipient, and a webhook that wants its message.created event at a
    port of its own: (database URL, that port)."""
    hook_port = free_port()
    with running(postgres_url, webhook_allow_private_networks="true") as (base, services):
        tenant = new_tenant(services.db, services.clock)
        created = httpx.post(
            f"{base}/v1/webhooks",
            json={
                "name": "Orders",
                "url": f"http://127.0.0.1:{hook_port}/hook",
                "events": ["message.created"],
            },
            headers={"authorization": f"Bearer {tenant.team_token}"},
        )
        assert created.status_code == 201, created.text
        sent = httpx.post(
            f"{base}/v1/send",
            json={
                "from": "shop@shop.example",
                "to": ["ann@example.org"],
                "subject": "Your order",
                "html": "<p>Thanks</p>",
            },
            headers={"x-lettermint-token": tenant.sending_token},
        )
        assert sent.status_code == 202, sent.text
    return postgres_url, hook_port


def environment(url: str) -> dict[str, str]:
    return {
        "MAILBEACON_DATABASE_URL": url,
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_LEASE_SECONDS": str(LEASE_SECONDS),
        "MAILBEACON_UPSTREAM_TLS": "none",
        "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "MAILBEACON_WEBHOOK_TIMEOUT_SECONDS": "60",
    }


def test_a_killed_workers_copies_are_sent_by_another_once_its_lease_runs_out(
    queued: tuple[str, int], tmp_path: Path
) -> None:
    url, _ = queued
    db = Database(url)
    env = environment(url)

    def state() -> Any:
        with db.read() as conn:
            return conn.execute(select(copies.c.status, copies.c.lease_until)).one()

    try:
        stuck = free_port()
        with (
            silent_listener(stuck),
            worker(
                "outbound", {**env, "MAILBEACON_UPSTREAM": f"smtp://127.0.0.1:{stuck}"}, tmp_path
            ) as first,
        ):
            wait_until(lambda: state().lease_until is not None, 30, "the first worker claims")
            os.kill(first.pid, signal.SIGKILL)  # mid-pass: its lease is left as it was
            first.wait(10)
        killed = time.monotonic()
        with (
            upstream_server() as upstream,
            worker(
                "outbound",
                {**env, "MAILBEACON_UPSTREAM": f"smtp://127.0.0.1:{upstream.port}"},
                tmp_path,
            ),
        ):
            wait_until(lambda: state().status == "delivered", 60, "another worker sends it")
            resumed = time.monotonic() - killed
        assert len(upstream.recorder.deliveries) == 1
        # Within the lease plus a pass; the old lease (7 minutes for copies) would fail this
        assert resumed < LEASE_SECONDS + 15, resumed
    finally:
        db.dispose()


def test_a_killed_dispatchers_deliveries_are_made_by_another_once_its_lease_runs_out(
    queued: tuple[str, int], tmp_path: Path
) -> None:
    url, hook_port = queued
    db = Database(url)
    env = environment(url)

    def state() -> Any:
        with db.read() as conn:
            return conn.execute(
                select(webhook_deliveries.c.status, webhook_deliveries.c.lease_until)
            ).one()

    try:
        with silent_listener(hook_port), worker("dispatcher", env, tmp_path) as first:
            wait_until(lambda: state().lease_until is not None, 30, "the first worker claims")
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
        killed = time.monotonic()
        receiver = Receiver()
        with serve_in_thread(receiver, port=hook_port), worker("dispatcher", env, tmp_path):
            wait_until(lambda: state().status == "success", 60, "another worker delivers it")
            resumed = time.monotonic() - killed
        assert receiver.wait_for(1)
        assert resumed < LEASE_SECONDS + 15, resumed
    finally:
        db.dispose()
