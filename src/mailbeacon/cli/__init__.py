"""The ``mailbeacon`` command line: one module per command, assembled here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..core.errors import MailbeaconError
from ..memory import limit_arenas
from . import (
    analytics,
    classify,
    data,
    domain,
    erase,
    instrument,
    migrate,
    project,
    serve,
    settings,
    smtp,
    user,
    worker,
)

__all__ = ["main"]

# Each command module offers add_parser(subparsers) and run(args) -> exit status.
_COMMANDS = (
    serve,
    smtp,
    worker,
    migrate,
    project,
    domain,
    settings,
    instrument,
    classify,
    data,
    user,
    erase,
    analytics,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbeacon", description="Self-hosted email engagement tracking."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    limit_arenas()  # before any command starts its threads (memory.py)
    try:
        status: int = args.run(args)
    except MailbeaconError as exc:  # CommandError and the core's errors: a message, no trace
        print(f"mailbeacon: {exc}", file=sys.stderr)
        return 2
    return status
