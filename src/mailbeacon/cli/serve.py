"""``mailbeacon serve``: API, tracking endpoints and workers in one process."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..config import Settings, load_settings
from ..parent_death import PARENT_VARIABLE
from ..store.migrate import open_database
from ..supervisor import BACKGROUND_NICE, PROMOTER_CHILD_VARIABLE, ChildProcess
from .command import add_listener_options, listener_overrides


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the API, the tracking endpoints, the SMTP relay and the workers",
        description="Run mailbeacon: the Lettermint and Lettr APIs under /v1 and /api, the "
        "tracking endpoints /c/ and /o/, the SMTP relay (MAILBEACON_SMTP_PORT, 0 for none) "
        "and the background workers, in one process. "
        "Settings come from MAILBEACON_* variables (see `mailbeacon settings`).",
    )
    add_listener_options(parser, prefix="")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = listener_overrides(args, prefix="")
    settings = load_settings(os.environ, **overrides)
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        migrate=settings.auto_migrate,
    )
    db.dispose()  # checked (or migrated) here; granian's worker process opens its own
    # The worker process reads its settings from the environment: hand it the flags too.
    for name, value in overrides.items():
        os.environ[f"MAILBEACON_{name.upper()}"] = value
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # the worker dies with this process
    smtp = (
        f"SMTP relay on smtp://{settings.smtp_host}:{settings.smtp_port}"
        if settings.smtp_port
        else "SMTP relay off (MAILBEACON_SMTP_PORT=0)"
    )
    print(
        f"mailbeacon: listening on http://{settings.host}:{settings.port}, {smtp}, "
        f"database {db.describe()}, upstream {settings.upstream.describe()}, "
        f"tracking links {settings.public_url}",
        file=sys.stderr,
        flush=True,
    )
    # The promoter judges in a process of its own, at a lower priority (supervisor.py says
    # why); granian's worker leaves it out.
    promoter = ChildProcess(
        "the promoter",
        [sys.executable, "-m", "mailbeacon", "worker", "--only", "promoter"],
        os.environ,
        nice=BACKGROUND_NICE,
    )
    promoter.start()
    os.environ[PROMOTER_CHILD_VARIABLE] = "1"
    try:
        _serve(settings)
    finally:
        promoter.stop()
    return 0


def _serve(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "mailbeacon.app:app_from_environment",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,  # app.py: the tracking paths answer through it directly
        websockets=False,  # none served: every request is HTTP
        workers=1,
        log_level="warning",  # type: ignore[arg-type]
    ).serve()
