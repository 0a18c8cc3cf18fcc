"""Instrumentation throughput: mailbeacon vs pytracking on the same ~60 KB marketing email.

Each mailbeacon iteration instruments the email for a new recipient (a new copy id, so new
tokens are minted and signed); each pytracking iteration runs ``adapt_html`` with open and
click tracking. Also shown: rendering one more recipient's copy from an existing plan, which
is what a broadcast to many recipients costs per recipient.

Usage: python bench/instrument/run.py [--seconds N]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from mailbeacon import CopyTracker, Keyring, LinkRules, TokenCodec, instrument_html, plan_html
from mailbeacon.core.instrumentation import htmlscan, tokens

EMAIL = Path(__file__).with_name("marketing.html")


def best_rate(work: Callable[[], object], seconds: float) -> float:
    """Operations per second: the best of several rounds (the least disturbed by neighbours)."""
    work()  # warm up
    rounds, best = 7, 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / rounds
        while True:
            work()
            count += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="time per contestant")
    args = parser.parse_args()

    html = EMAIL.read_text(encoding="utf-8")
    size = len(html.encode())
    codec = TokenCodec(Keyring.parse("1:" + "b" * 40))
    today = date.today()
    copy_ids = itertools.count(1)

    def mailbeacon_one() -> object:
        tracker = CopyTracker(codec, "https://t.example.com", next(copy_ids), today)
        return instrument_html(html, tracker)

    sample = mailbeacon_one()
    assert len(sample.links) == 37, len(sample.links)  # the email's trackable links

    rules = LinkRules.build(tracking_hosts=["t.example.com"])
    plan = plan_html(html, rules)

    def render_one() -> object:
        return plan.render(CopyTracker(codec, "https://t.example.com", next(copy_ids), today))

    try:
        import pytracking
        from pytracking.html import adapt_html
    except ImportError:
        print("pytracking is not installed: pip install 'mailbeacon[bench]'", file=sys.stderr)
        return 2
    config = pytracking.Configuration(
        base_open_tracking_url="https://t.example.com/o/",
        base_click_tracking_url="https://t.example.com/c/",
    )

    def pytracking_one() -> object:
        return adapt_html(html, {"recipient": next(copy_ids)}, configuration=config)

    ours = best_rate(mailbeacon_one, args.seconds)
    theirs = best_rate(pytracking_one, args.seconds)
    per_recipient = best_rate(render_one, args.seconds / 2)

    print(f"email: {EMAIL.name}, {size / 1000:.1f} kB, {len(sample.links)} tracked links")
    print(
        f"python {platform.python_version()} ({sys.executable}); "
        f"C scanner: {htmlscan.ACCELERATED}, C signing: {tokens.ACCELERATED}"
    )
    print(f"{'':24}{'emails/s':>10}{'MB/s':>9}")
    for name, rate in (("mailbeacon", ours), ("pytracking adapt_html", theirs)):
        print(f"{name:24}{rate:10.0f}{rate * size / 1e6:9.1f}")
    print(f"{'  per extra recipient':24}{per_recipient:10.0f}{per_recipient * size / 1e6:9.1f}")
    ratio = ours / theirs
    print(f"ratio mailbeacon / pytracking: {ratio:.1f}x")
    met = ours * size / 1e6 >= 100 and ratio >= 8
    print(f"target >= 100 MB/s and >= 8x pytracking: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
