"""``mailbeacon erase``: erase every trace of a recipient's address (a GDPR request).

The same use case as the Team API's ``POST /v1/erasures`` (service/erasure.py), for the
operator: in one team (``--team``, its id or exact name) or in every team. Prints what was
erased as JSON; running serve processes follow within a second (their journals included).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..clock import SystemClock
from ..core.errors import CommandError
from ..service import erasure
from ..store import tenancy
from .command import settings_and_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "erase",
        help="erase every trace of a recipient's address",
        description="Remove or anonymise a recipient's address everywhere mailbeacon keeps it "
        "(messages, copies, links, events, raw hits, webhook deliveries, counters, the serve "
        "processes' hit journals), print what was erased, and log the erasure under a keyed "
        "hash of the address.",
    )
    parser.add_argument(
        "--recipient", required=True, metavar="ADDRESS", help="the address to erase (any case)"
    )
    parser.add_argument("--team", metavar="TEAM", help="only this team's data (id or name)")
    parser.add_argument(
        "--suppressions",
        action="store_true",
        help="also the suppressions that keep the address from being mailed",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _, db = settings_and_database()
    try:
        team = None
        if args.team is not None:
            with db.read() as conn:
                found = tenancy.teams_by_reference(conn, args.team)
            if not found:
                raise CommandError(f"no team {args.team!r} (give its id or its exact name)")
            if len(found) > 1:
                raise CommandError(f"{len(found)} teams are named {args.team!r}: give its id")
            team = found[0]
        done = erasure.erase(
            db,
            args.recipient,
            SystemClock().now(),
            team=team,
            requested_by="command line",
            suppressions=args.suppressions,
        )
    finally:
        db.dispose()
    print(
        json.dumps(
            {"id": done.public_id, "subject_hash": done.subject_hash, "erased": done.erased},
            indent=2,
        )
    )
    return 0
