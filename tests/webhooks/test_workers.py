"""The dispatcher as it runs for real: inside the server, and as ``mailbeacon worker``.

These wait on the receiver (real time passes in the worker's idle pauses), never on a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lettermint
import standardwebhooks

from mailbeacon.app import Services, build_workers
from mailbeacon.clock import FixedClock
from mailbeacon.service import events as recorded
from mailbeacon.store import webhooks
from mailbeacon.store.db import Database
from tests.conftest import SIGNING_KEYS
from tests.support.process import MAILBEACON
from tests.support.receiver import receiving
from tests.support.tenants import new_tenant


def test_the_dispatcher_is_one_of_the_default_workers(
    make_services: Callable[..., Services], sqlite_url: str
) -> None:
    assert "dispatcher" in build_workers(make_services(sqlite_url))


def test_serve_delivers_a_test_event(running: Callable[..., Any], sqlite_url: str) -> None:
    with (
        receiving() as (receiver, hook_base),
        running(sqlite_url, workers=["dispatcher"], webhook_allow_private_networks="true") as (
            base,
            services,
        ),
    ):
        tenant = new_tenant(services.db, services.clock)
        with lettermint.Lettermint(tenant.team_token, base_url=f"{base}/v1") as lm:
            hook: Any = lm.webhooks.create(
                {"name": "R", "url": hook_base + "/in", "events": ["message.opened"]}
            )["data"]
            queued = lm.webhooks.test(hook["id"])
            assert receiver.wait_for(1), "the dispatcher inside serve delivered nothing"
            [request] = receiver.requests
            assert request.header("webhook-id") == queued["delivery_id"]
            # The attempt is recorded once the answer is read: a moment after the receiver
            # has the request (checking at once was a race, and failed now and then).
            deadline = time.monotonic() + 10
            while lm.webhooks.retrieve(hook["id"])["last_called_at"] is None:
                assert time.monotonic() < deadline, "the delivery was never recorded"
                time.sleep(0.05)  # polling for another thread's write, not pacing work


def test_mailbeacon_worker_delivers_until_told_to_stop(
    sqlite_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    clock.set(datetime.now(UTC))  # the worker process keeps the system's time
    db = Database(sqlite_url)
    with receiving() as (receiver, hook_base):
        tenant = new_tenant(db, clock)
        with db.write() as conn:
            hook = webhooks.create_webhook(
                conn,
                tenant.team.id,
                clock.now(),
                name="R",
                url=hook_base + "/in",
                format="lettermint",
                events=["message.opened"],
                enabled=True,
                include_machine_events=False,
                scope="team",
                project_ids=[],
                route_ids=[],
                delivery_mode_filter="both",
            )
            recorded.enqueue_test(conn, hook, clock.now())
        db.dispose()
        env = {
            **os.environ,
            "MAILBEACON_DATABASE_URL": sqlite_url,
            "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
            "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        }
        process = subprocess.Popen(
            [MAILBEACON, "worker", "--only", "dispatcher"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            delivered = receiver.wait_for(1)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        assert delivered, f"mailbeacon worker delivered nothing: {output}"
        assert process.returncode == 0, output
        assert "workers dispatcher running" in output
        [request] = receiver.requests
        assert standardwebhooks.Webhook(hook.secret).verify(request.body, dict(request.headers))
