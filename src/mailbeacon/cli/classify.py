"""``mailbeacon classify``: verdicts for observations, one JSON line in, one JSON line out.

Operators ask "why was this click not counted?": feed the hits (as JSON lines) and read the
verdicts with their reasons. Hits of the same message and recipient are judged together, as
the promoter judges them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from ..core.errors import CommandError
from ..core.verdicts.classify import Hit, Verdict, classify
from ..core.verdicts.networks import NetworkTable
from ..store.networks import builtin_ranges

KINDS = ("open", "click", "honeypot")


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "classify",
        help="explain verdicts: JSON lines of observations in, verdicts out",
        description=(
            'Read observations as JSON lines on standard input: {"id", "kind": '
            '"open"|"click"|"honeypot", "message", "recipient", "link_index", "at", '
            '"sent_at", "method", "user_agent", "ip", "headers": {...}} (all but kind '
            'optional; times ISO 8601). Write one verdict per line, in order: {"id", '
            '"classification", "probability", "proxy_type", "family", "reason_codes", '
            '"details", "machine", "counts_for_metrics"}. Observations of the same message '
            "and recipient are judged together."
        ),
    )
    parser.add_argument(
        "--links",
        type=int,
        default=None,
        help="how many tracked links each message has (to see 'all clicked')",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    entries = [_parse(number, line) for number, line in enumerate(sys.stdin, 1) if line.strip()]
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (_, key, _) in enumerate(entries):
        groups[key].append(index)
    table = NetworkTable(builtin_ranges())
    verdicts: list[Verdict | None] = [None] * len(entries)
    for members in groups.values():
        hits = [entries[i][2] for i in members]
        judged = classify(hits, networks=table, link_count=args.links)
        for index, judgement in zip(members, judged, strict=True):
            verdicts[index] = judgement
    for (identifier, _, _), verdict in zip(entries, verdicts, strict=True):
        assert verdict is not None
        print(
            json.dumps(
                {
                    "id": identifier,
                    "classification": verdict.classification.value,
                    "probability": verdict.probability,
                    "proxy_type": verdict.proxy_type,
                    "family": verdict.family,
                    "reason_codes": list(verdict.reason_codes),
                    "details": list(verdict.details),
                    "machine": verdict.machine,
                    "counts_for_metrics": verdict.counts_for_metrics,
                }
            )
        )
    return 0


def _parse(number: int, line: str) -> tuple[Any, tuple[str, str], Hit]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CommandError(f"line {number}: not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise CommandError(f"line {number}: expected a JSON object")
    kind = data.get("kind")
    if kind not in KINDS:
        raise CommandError(f"line {number}: kind must be open, click or honeypot")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise CommandError(f"line {number}: headers must be an object")
    link_index = data.get("link_index")
    if link_index is not None and not isinstance(link_index, int):
        raise CommandError(f"line {number}: link_index must be a whole number")
    hit = Hit(
        kind=kind,
        method=str(data.get("method") or "GET").upper(),
        user_agent=str(data.get("user_agent") or ""),
        at=_time(data.get("at"), "at", number),
        sent_at=_time(data.get("sent_at"), "sent_at", number),
        link_index=link_index,
        ip=data.get("ip"),
        headers={str(k).lower(): str(v) for k, v in headers.items()},
    )
    key = (str(data.get("message", "")), str(data.get("recipient", "")))
    return data.get("id"), key, hit


def _time(value: Any, field: str, number: int) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"line {number}: {field} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
