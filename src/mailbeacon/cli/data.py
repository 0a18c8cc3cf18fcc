"""``mailbeacon data``: the network lists classification uses (import, list)."""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import sys
from pathlib import Path
from typing import Any

from ..clock import SystemClock
from ..core.errors import CommandError
from ..core.verdicts.networks import CONFIDENCES, ROLES, NetworkRange, parse_ranges
from ..service import networks
from ..store import networks as network_store
from .command import settings_and_database


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "data", help="import and list the network lists used to recognise machines"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    importing = actions.add_parser(
        "import",
        help="import a network list (replaces that provider's list)",
        description=(
            "Import network ranges. Formats: csv (network,provider,role,confidence lines, "
            "as in mailbeacon/data/networks.csv), apple (Apple's iCloud Private Relay "
            "egress-ip-ranges.csv), cidr (one range per line; give --provider, --role and "
            "--confidence). An import replaces what was imported before for its providers "
            "and overrides the shipped list for them."
        ),
    )
    importing.add_argument("file", help="the file, or - for standard input")
    importing.add_argument("--format", choices=("csv", "apple", "cidr"), default="csv")
    importing.add_argument("--provider")
    importing.add_argument("--role", choices=ROLES)
    importing.add_argument("--confidence", choices=CONFIDENCES, default="certain")
    importing.add_argument("--source", help="where the list came from, and when")
    importing.set_defaults(run=run_import)
    listing = actions.add_parser("list", help="show the imported lists")
    listing.set_defaults(run=run_list)


def read_ranges(text: str, args: argparse.Namespace, source: str) -> list[NetworkRange]:
    if args.format == "csv":
        return parse_ranges(text, source=source)
    if args.format == "apple":
        # Apple's format: prefix,country,region,city, (no header)
        rows = (row for row in csv.reader(io.StringIO(text)) if row and row[0].strip())
        return [_range(row[0], "apple", "apple_relay", "certain", source) for row in rows]
    if not args.provider or not args.role:
        raise ValueError("--format cidr needs --provider and --role")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [
        _range(line, args.provider, args.role, args.confidence, source) for line in lines if line
    ]


def _range(network: str, provider: str, role: str, confidence: str, source: str) -> NetworkRange:
    try:
        ipaddress.ip_network(network.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return NetworkRange(network.strip(), provider, role, confidence, source)


def run_import(args: argparse.Namespace) -> int:
    name = args.file
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from exc
    source = args.source or f"imported from {name}"
    try:
        ranges = read_ranges(text, args, source)
    except ValueError as exc:
        raise CommandError(f"{name}: {exc}") from exc
    if not ranges:
        raise CommandError(f"{name}: no ranges found")
    _, db = settings_and_database()
    try:
        count = networks.import_ranges(db, ranges, SystemClock().now())
    finally:
        db.dispose()
    providers = ", ".join(sorted({r.provider for r in ranges}))
    print(f"imported {count} ranges for {providers}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    _, db = settings_and_database()
    try:
        with db.read() as conn:
            rows = network_store.summary(conn)
    finally:
        db.dispose()
    print(f"shipped: {len(network_store.builtin_ranges())} ranges (mailbeacon/data/networks.csv)")
    for provider, role, count, source in rows:
        print(f"imported: {provider} ({role}): {count} ranges, {source}")
    return 0
