"""``mailbeacon settings``: every setting, its variable, default and meaning."""

from __future__ import annotations

import argparse
import os
import textwrap
from typing import Any

from ..config import describe, load_settings


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "settings", help="list the settings (MAILBEACON_* variables) and check them"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the current environment; exit 2 with the problem",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.check:
        settings = load_settings(os.environ)  # raises ConfigError naming the variable
        print(f"settings are valid ({settings.environment})")
        return 0
    for variable, default, help_text in describe():
        print(f"{variable}  (default: {default})")
        print(textwrap.indent(textwrap.fill(help_text, 76), "    "))
    print(
        "MAILBEACON_CONFIG  (default: none)\n    a TOML file with the same settings by their "
        "short names; the environment wins"
    )
    return 0
