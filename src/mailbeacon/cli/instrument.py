"""``mailbeacon instrument``: instrument an HTML file or a whole message, offline."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from ..core.errors import CommandError
from ..core.instrumentation.beacons import PixelPosition
from ..core.instrumentation.linkrules import LinkRules
from ..core.instrumentation.mime import instrument_message
from ..core.instrumentation.rewrite import SkippedLink, TrackedLink, instrument_html
from ..core.instrumentation.tokens import Keyring, TokenCodec
from ..core.instrumentation.tracker import CopyTracker

KEYS_VARIABLE = "MAILBEACON_SIGNING_KEYS"
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")  # a field name, then a colon (RFC 5322)


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "instrument",
        help="rewrite the links of an HTML file or message and add the open pixel",
        description=(
            "Print FILE instrumented for one recipient: tracked links, open pixel. FILE is an "
            "HTML document or an RFC 5322 message (.eml); '-' reads standard input. Tokens "
            f"are signed with ${KEYS_VARIABLE} (id:secret,...), or a throw-away key."
        ),
    )
    parser.add_argument("file", metavar="FILE")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--message", action="store_true", help="FILE is a message (default: guess)")
    kind.add_argument("--html", action="store_true", help="FILE is HTML (default: guess)")
    parser.add_argument("--base-url", default="https://t.example.com", help="tracking base URL")
    parser.add_argument("--copy-id", type=int, default=1, help="the recipient copy's id")
    parser.add_argument("--no-opens", action="store_true", help="do not add the open pixel")
    parser.add_argument("--no-clicks", action="store_true", help="do not rewrite links")
    parser.add_argument("--honeypot", action="store_true", help="add the hidden honeypot link")
    parser.add_argument(
        "--pixel", choices=[p.value for p in PixelPosition], default="top", help="pixel position"
    )
    parser.add_argument(
        "--exclude-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="never track links to DOMAIN or its subdomains (repeatable)",
    )
    parser.add_argument("--links", action="store_true", help="print the link table as JSON instead")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data = _read(args.file)
    is_message = args.message or (not args.html and _looks_like_message(args.file, data))
    keys = os.environ.get(KEYS_VARIABLE)
    if keys:
        keyring = Keyring.parse(keys, setting=KEYS_VARIABLE)
    else:
        keyring = Keyring.ephemeral()
        print(
            f"mailbeacon: ${KEYS_VARIABLE} is not set; signing with a throw-away key",
            file=sys.stderr,
        )
    try:
        tracker = CopyTracker(TokenCodec(keyring), args.base_url, args.copy_id, date.today())
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    options = {
        "opens": not args.no_opens,
        "clicks": not args.no_clicks,
        "rules": LinkRules.build(excluded_domains=args.exclude_domain),
        "pixel_position": PixelPosition(args.pixel),
        "honeypot": args.honeypot,
    }
    if is_message:
        message = instrument_message(data, tracker, **options)
        links, skipped, output = message.links, message.skipped, message.raw
        size, clipped = sum(p.size for p in message.parts), message.clipped_by_gmail
    else:
        text = _text(data, args.file)
        result = instrument_html(text, tracker, **options)
        links, skipped, output = result.links, result.skipped, result.html.encode()
        size, clipped = result.size, result.clipped_by_gmail
    if args.links:
        report = {
            "links": [_link(link) for link in links],
            "skipped": [_skipped(link) for link in skipped],
            "size": size,
            "clipped_by_gmail": clipped,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    if clipped:
        print("mailbeacon: warning: over 102 KB, Gmail will clip this message", file=sys.stderr)
    return 0


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {name}: {exc.strerror}") from exc


def _looks_like_message(name: str, data: bytes) -> bool:
    if name.lower().endswith(".eml"):
        return True
    return bool(_HEADER_LINE.match(data)) and (b"\n\n" in data or b"\r\n\r\n" in data)


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{name} is not UTF-8; pass a whole message to keep its charset"
        ) from exc


def _link(link: TrackedLink) -> dict[str, object]:
    return {
        "link_index": link.link_index,
        "url": link.url,
        "anchor_text": link.anchor_text,
        "element": link.element,
        "tracking_url": link.tracking_url,
    }


def _skipped(link: SkippedLink) -> dict[str, object]:
    return {"url": link.url, "reason": link.reason.value, "element": link.element}
