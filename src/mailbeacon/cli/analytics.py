"""``mailbeacon analytics rebuild``: the analytics counters recomputed from the events."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..service import analytics_counters
from .command import settings_and_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "analytics", help="maintain the counters POST /v1/analytics and the dashboard read"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild",
        help="recompute the analytics counters from the events",
        description=(
            "Recompute the hourly and per-dimension analytics counters from the stored "
            "events: for events recorded before the counters existed (or before a counter "
            "was added), or restored without them. The serving and worker processes may keep "
            "running: writers wait for the rebuild to commit. Unique counts need the first "
            "flags that events promoted since migration 0011 carry."
        ),
    )
    rebuild.add_argument("--project", help="only this project (its id or sid); default all")
    rebuild.set_defaults(run=run_rebuild)


def run_rebuild(args: argparse.Namespace) -> int:
    _, db = settings_and_database()
    started = time.monotonic()
    try:
        # an unknown project is a NotFound (a MailbeaconError): main() prints it, exits 2
        rebuilt = analytics_counters.rebuild(db, args.project)
    finally:
        db.dispose()
    seconds = time.monotonic() - started
    names = ", ".join(rebuilt) if rebuilt else "none (no projects)"
    print(f"analytics counters rebuilt for {len(rebuilt)} project(s): {names} ({seconds:.1f} s)")
    return 0
