"""``mailbeacon migrate``: bring the database schema up to date."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..config import load_settings
from ..store import migrate
from ..store.db import Database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "migrate", help="apply database migrations (MAILBEACON_DATABASE_URL)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 when migrations are pending"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        before, head = migrate.current_revision(db), migrate.head_revision(db)
        if args.check:
            state = "up to date" if before == head else f"at {before or 'empty'}, head {head}"
            print(f"{db.describe()}: {state}")
            return 0 if before == head else 1
        migrate.upgrade(db)
        after = migrate.current_revision(db)
        change = "already up to date" if before == after else f"{before or 'empty'} -> {after}"
        print(f"{db.describe()}: {change}", file=sys.stderr)
        return 0
    finally:
        db.dispose()
