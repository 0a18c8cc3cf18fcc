"""/healthz, /readyz and /metrics on a real server: liveness never depends on the database,
readiness does (and on the journal's cap), and the metrics count what the issue lists."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from mailbeacon.clock import FixedClock
from tests.support.tenants import new_tenant
from tests.support.workers import ship
from tests.web.test_outage import postgres_away
from tests.web.test_tracking import send, tracking_urls


def metric(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^mailbeacon_{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert found, f"no mailbeacon_{name}{labels} in:\n{text}"
    return float(found.group(1))


def test_metrics_count_hits_journal_queues_and_promoter_lag(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        for token in tracking_urls(services)["c"][1:]:
            assert httpx.get(f"{base}/c/{token}").status_code == 302
        ship(services)
        clock: FixedClock = services.clock
        clock.advance(seconds=42)
        answer = httpx.get(f"{base}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert metric(text, "hits_answered_total") == 2
    assert metric(text, "hits_journalled_total") == 2
    assert metric(text, "hits_shipped_total") == 2
    assert metric(text, "journal_depth") == 0
    assert metric(text, "hits_unkept_total") == 0
    assert metric(text, "promoter_lag_seconds") == 42  # nothing promoted: the clicks' age
    assert metric(text, "outbound_queue_depth") == 1  # captured by no worker yet
    assert metric(text, "webhook_queue_depth") == 0
    assert metric(text, "database_up") == 1
    assert metric(text, "database_errors_total") == 0


def test_readiness_follows_the_database_and_the_journal_cap_liveness_does_not(
    running: Callable[..., Any], postgres_url: str
) -> None:
    with running(postgres_url, journal_cap="2") as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        tokens = tracking_urls(services)["c"][1:]
        assert httpx.get(f"{base}/readyz").status_code == 200
        with postgres_away(postgres_url):
            statuses = [httpx.get(f"{base}/c/{tokens[n % 2]}").status_code for n in range(3)]
            deadline = time.monotonic() + 10  # the shipper notices at its next try
            while not services.shipper.full and time.monotonic() < deadline:
                time.sleep(0.1)
            statuses += [httpx.get(f"{base}/c/{tokens[0]}").status_code]
            ready = httpx.get(f"{base}/readyz", timeout=30)
            alive = httpx.get(f"{base}/healthz")
            text = httpx.get(f"{base}/metrics", timeout=30).text
        assert statuses == [302] * 4  # full or not, clicks are answered
        assert alive.status_code == 200
        assert ready.status_code == 503
        assert ready.json()["problems"] == ["database_unavailable", "journal_full"]
        assert metric(text, "database_up") == 0
        # the shipper sees the cap at its next try: the 3rd click is kept or not, the 4th not
        assert metric(text, "hits_unkept_total") >= 1
        assert metric(text, "hits_unkept_total") + metric(text, "hits_journalled_total") == 4
        assert metric(text, "database_errors_total") >= 1
        deadline = time.monotonic() + 10  # healed: shipped, below the cap again
        while httpx.get(f"{base}/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json()["journal"]["depth"] == 0
