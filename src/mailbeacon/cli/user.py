"""``mailbeacon user add``: a dashboard account for a team (its password from stdin or a
file, never from the command line, where other users of the machine could read it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..clock import SystemClock
from ..core.errors import CommandError
from ..service import accounts
from .command import settings_and_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("user", help="manage dashboard users")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a dashboard user to a team",
        description="Add a user who signs in to /dashboard and sees the team's projects. "
        "The password is read from --password-file, or else from standard input (one line).",
    )
    add.add_argument("--team", required=True, help="the team's token (lm_team_...) or id")
    add.add_argument("--email", required=True)
    add.add_argument("--password-file", type=Path, help="a file whose first line is the password")
    add.set_defaults(run=run_add)


def read_password(path: Path | None) -> str:
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise CommandError(f"cannot read --password-file {path}: {exc.strerror}") from exc
    else:
        if sys.stdin.isatty():
            print("password: ", end="", file=sys.stderr, flush=True)
        text = sys.stdin.readline()
    password = text.splitlines()[0] if text.strip() else ""
    if not password:
        raise CommandError("no password given: pipe it on stdin or use --password-file")
    return password


def run_add(args: argparse.Namespace) -> int:
    password = read_password(args.password_file)
    _, db = settings_and_database()
    try:
        # A refusal (unknown team, short password, email taken) is a MailbeaconError:
        # main() prints it and exits 2.
        user_id = accounts.add_user(db, args.team, args.email, password, SystemClock().now())
    finally:
        db.dispose()
    print(f"user {accounts.normalise_email(args.email)} added ({user_id})")
    return 0
