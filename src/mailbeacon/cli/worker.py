"""``mailbeacon worker``: the background workers without the HTTP server.

The outbound mail queue, the promoter, the webhook dispatcher, the domain checks and
retention, or the ones named with ``--only``. Any number of worker and serve processes share
one PostgreSQL database: each queue is claimed with ``FOR UPDATE SKIP LOCKED``. SIGINT or
SIGTERM stops it after the work in hand (webhook requests in flight finish or time out).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from ..config import load_settings
from ..gc_tuning import GcTuning
from ..parent_death import die_with_serve
from ..workers import WORKER_NAMES
from .command import configure_logging

if TYPE_CHECKING:
    from ..service.context import Services
    from ..workers import Worker


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "worker",
        help="run the background workers (mail queue, promoter, webhooks, ...) without the server",
        description="Run mailbeacon's background workers by themselves: the outbound mail "
        "queue, the promoter (observations to events), the webhook dispatcher, the custom "
        "domains' checks and retention (old personal data, deleted projects). Run several "
        "on one PostgreSQL database to share the work. Settings come from MAILBEACON_* "
        "variables (see `mailbeacon settings`).",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=WORKER_NAMES,
        help="run only this worker (repeatable; default: all)",
    )
    parser.add_argument(
        "--migrate", action="store_true", help="apply pending database migrations first"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ, **({"auto_migrate": "true"} if args.migrate else {}))
    configure_logging()
    die_with_serve()  # serve's promoter (supervisor.py) must not outlive it
    from ..app import build_services, build_workers

    services = build_services(settings)  # NotMigrated says what to run
    chosen = build_workers(services, only=args.only or WORKER_NAMES)
    try:
        _run(_work_until_signalled(services, chosen))
    finally:
        services.db.dispose()
    return 0


def _run(work: Coroutine[Any, Any, None]) -> None:
    """On uvloop when it is installed, as serve runs (granian uses it): less CPU per
    webhook request and per queued message."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, where it does not exist
        asyncio.run(work)
    else:
        uvloop.run(work)


async def _work_until_signalled(services: Services, workers: Mapping[str, Worker]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    names = ", ".join(workers)
    print(
        f"mailbeacon: workers {names} running, database {services.db.describe()}",
        file=sys.stderr,
        flush=True,
    )
    tasks = [asyncio.create_task(work(stop), name=name) for name, work in workers.items()]
    # As serve does (gc_tuning.py): full collections skip what start-up made. The promoter's
    # passes allocate enough for a full collection every second or so, and walking that whole
    # heap each time took a sixth of their time (bench/promote).
    tuning = GcTuning()
    tuning.install()
    await stop.wait()
    tuning.uninstall()
    done, pending = await asyncio.wait(tasks, timeout=services.settings.webhook_timeout_seconds + 5)
    for task in pending:
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger(__name__).error("a worker failed", exc_info=task.exception())
