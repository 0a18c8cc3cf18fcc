"""What every command module shares (their error, CommandError, is core/errors.py's)."""

from __future__ import annotations

import argparse
import logging
import os

from ..config import Settings, load_settings
from ..store.db import Database
from ..store.migrate import open_database

__all__ = [
    "add_listener_options",
    "configure_logging",
    "listener_overrides",
    "settings_and_database",
]


def settings_and_database(*, migrate: bool = False) -> tuple[Settings, Database]:
    """The settings from the environment and their database, its schema checked
    (:class:`~mailbeacon.core.errors.NotMigrated` says what to run)."""
    settings = load_settings(os.environ)
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        migrate=migrate,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    return settings, db


def add_listener_options(parser: argparse.ArgumentParser, *, prefix: str) -> None:
    """--host, --port and --migrate, for a command that listens (``prefix`` names the
    settings they override: MAILBEACON_HOST or MAILBEACON_SMTP_HOST, ...)."""
    variable = f"MAILBEACON_{prefix.upper()}"
    parser.add_argument("--host", help=f"interface to listen on ({variable}HOST)")
    parser.add_argument("--port", type=int, help=f"port to listen on ({variable}PORT)")
    parser.add_argument(
        "--migrate", action="store_true", help="apply pending database migrations first"
    )


def listener_overrides(args: argparse.Namespace, *, prefix: str) -> dict[str, str]:
    """The settings the listener options override, by setting name."""
    overrides = {}
    if args.host:
        overrides[f"{prefix}host"] = args.host
    if args.port is not None:
        overrides[f"{prefix}port"] = str(args.port)
    if args.migrate:
        overrides["auto_migrate"] = "true"
    return overrides


def configure_logging() -> None:
    """Log lines for a long-running command (smtp, worker), alembic's kept quiet."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
