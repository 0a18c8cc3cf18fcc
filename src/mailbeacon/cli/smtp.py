"""``mailbeacon smtp``: the SMTP relay alone (``mailbeacon serve`` runs it too).

The relay stores what it accepts in the database; a ``mailbeacon serve`` on the same database
delivers it (its outbound worker shares the queue with any number of processes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from ..config import load_settings
from ..core.errors import CommandError
from .command import add_listener_options, configure_logging, listener_overrides

if TYPE_CHECKING:
    from ..service.context import Services


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "smtp",
        help="run the SMTP relay alone",
        description="Run the SMTP relay by itself: SMTP clients submit mail with AUTH (any "
        "user name, a project's sending token as the password), mailbeacon instruments and "
        "queues it. A `mailbeacon serve` on the same database delivers the queue. Settings "
        "come from MAILBEACON_* variables (see `mailbeacon settings`).",
    )
    add_listener_options(parser, prefix="smtp_")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ, **listener_overrides(args, prefix="smtp_"))
    if not settings.smtp_port:
        raise CommandError("the SMTP port is 0 (MAILBEACON_SMTP_PORT): give one with --port")
    configure_logging()
    from ..app import build_services  # FastAPI and the rest: only for this command

    services = build_services(settings)  # NotMigrated says what to run
    try:
        asyncio.run(_relay_until_signalled(services))
    finally:
        services.db.dispose()
    return 0


async def _relay_until_signalled(services: Services) -> None:
    from ..smtp.relay import SmtpRelay

    relay = SmtpRelay(services)
    await relay.start()
    print(
        f"mailbeacon: SMTP relay listening on {relay.describe()}, "
        f"database {services.db.describe()}",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await relay.stop()
