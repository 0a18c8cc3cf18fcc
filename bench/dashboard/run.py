"""The dashboard at scale: each page's time over HTTP against `mailbeacon serve`, on the
database bench/analytics fills (N events, default 10 million, over 90 days; one message with
200,000 events), on SQLite and PostgreSQL.

A dashboard user is added to the generated team and signs in; then each page is asked
several times over one kept-alive connection (the median is reported, after a warm-up):
the overview over 90 days (five analytics queries: summary and daily series with the
previous period, routes, tags, top links, machines by kind), the message list, the list
filtered by a tag, the big message's first page of timeline and its last, routes, webhooks,
tracking domains and the live page. The issue's target is 100 ms of server time a page;
times here include the loopback round trip and the HTML, so they are an upper bound.

Usage: python bench/dashboard/run.py [--events 10000000] [--database sqlite|postgresql|both]
       [--big-events 200000] [--repeat 5] [--keep NAME]

--keep NAME shares bench/analytics' kept databases (see there).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import httpx

from mailbeacon.core.errors import Refused
from mailbeacon.service import accounts
from mailbeacon.store.db import Database

TARGET_MS = 100.0
PASSWORD = "bench password 123"


def _analytics_bench() -> ModuleType:
    """bench/analytics/run.py: its data generator and server, shared, not copied."""
    path = Path(__file__).parents[1] / "analytics" / "run.py"
    spec = importlib.util.spec_from_file_location("bench_analytics", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measure(bench: ModuleType, base: str, repeat: int) -> dict[str, float]:
    with httpx.Client(base_url=base, timeout=300) as client:
        page = client.get("/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        signed = client.post(
            "/dashboard/login",
            data={"email": "bench@example.com", "password": PASSWORD, "csrf": token.group(1)},
        )
        assert signed.status_code == 303, signed.text[:500]
        big = f"/dashboard/messages/{bench.BIG_ID}"
        last = client.get(big)
        later = re.findall(r'href="\?after=([^"#]+)', last.text)
        pages = {
            "overview, last 90 days": "/dashboard/?period=90d",
            "messages, newest page": "/dashboard/messages",
            "messages, one tag": "/dashboard/messages?tag=tag-12345",
            "message with 200,000 events": big,
            "its timeline, a later page": f"{big}?after={later[0]}" if later else big,
            "routes": "/dashboard/routes",
            "webhooks": "/dashboard/webhooks",
            "tracking domains": "/dashboard/domains",
            "live": "/dashboard/live",
        }
        return {
            name: bench.timed(client, repeat, lambda path=path: client.get(path))
            for name, path in pages.items()
        }


def run_one(bench: ModuleType, kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    with bench.prepared(kind, args, tmp) as ready:
        db = Database(ready.url)
        with contextlib.suppress(Refused):  # a kept database has its user already
            accounts.add_user(db, ready.token, "bench@example.com", PASSWORD, datetime.now(UTC))
        db.dispose()
        print(f"{kind}: {ready.note}", file=sys.stderr)
        with bench.serving(ready.url, tmp) as (base, _):
            return measure(bench, base, args.repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--big-events", type=int, default=200_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "MAILBEACON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--keep", metavar="NAME", help="keep the databases, reuse kept ones")
    args = parser.parse_args()
    bench = _analytics_bench()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    ok = True
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            found = run_one(bench, kind, args, Path(tmp))
        total = args.events + args.big_events
        print(f"{kind}: {total:,} events; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        for name, ms in found.items():
            met = ms <= TARGET_MS
            ok &= met
            print(
                f"  {name:32} {ms:8.1f} ms  (target <= {TARGET_MS:.0f} ms: "
                f"{'met' if met else 'NOT met'})"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
