"""One meaning for privacy-proxy opens (README, "Telling people from machines"), the same in
the verdict, the daily stats and the analytics classes:

- every open fetched through a privacy proxy is classified ``privacy_proxy``: analytics'
  ``privacy`` class and ``/v1/stats``' ``privacy_opened`` count all of them, ``human`` none;
- a mailbox's image proxy (Gmail, Yahoo) fetches when its user opens the message: the open is
  the person's, ``counts_for_metrics`` (``opened``, ``effective_opened``), not ``machine``;
- Apple Mail Privacy Protection fetches whether or not anyone reads, at delivery or days
  later: never counted, always ``machine`` (``machine_opened``), never in analytics' machine
  class, which is bots and scanners.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.service import analytics
from mailbeacon.store import rollups
from mailbeacon.store.observations import KIND_OPEN
from mailbeacon.store.schema import events
from mailbeacon.workers.promoter import Promoter
from tests.support import hits as stored_hits
from tests.support.delivered import delivered_copies
from tests.support.tenants import Tenant, new_tenant

DELIVERED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the clock fixture's START
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.fixture
def services(make_services: Callable[..., Services], database_url: str) -> Services:
    made = make_services(database_url)
    made.clock.advance(days=3)  # everything observed below has settled
    return made


def send(services: Services, tenant: Tenant, recipients: int) -> list[int]:
    html = '<body><a href="https://shop.example/">Shop</a></body>'
    addresses = [f"r{i}@x.example" for i in range(recipients)]
    return delivered_copies(services, tenant, html, addresses, DELIVERED)


def open_(
    services: Services, copy_id: int, after: timedelta, agent: str, ip: str, headers: str
) -> None:
    with services.db.write() as conn:
        stored_hits.store(
            conn,
            [
                {
                    "copy_id": copy_id,
                    "kind": KIND_OPEN,
                    "link_index": 0,
                    "at_us": int((DELIVERED + after).timestamp() * 1_000_000),
                    "method": "GET",
                    "host": "t.example.test",
                    "ip": ip,
                    "user_agent": agent,
                    "headers": headers,
                }
            ],
        )


def test_proxy_opens_mean_the_same_in_verdicts_stats_and_analytics(services: Services) -> None:
    tenant = new_tenant(services.db, services.clock)
    gmail_reader, apple_reader, chrome_reader = send(services, tenant, 3)
    open_(services, gmail_reader, timedelta(hours=1), GMAIL, "66.249.84.0", "{}")
    open_(services, apple_reader, timedelta(seconds=4), "Mozilla/5.0", "17.58.96.0", "{}")
    open_(services, apple_reader, timedelta(days=2), "Mozilla/5.0", "17.58.96.0", "{}")
    person = '{"accept-language":"en-GB"}'
    open_(services, chrome_reader, timedelta(minutes=10), CHROME, "203.0.113.7", person)
    promoter = Promoter(services.db, services.clock, services.settings.settle_seconds)
    assert promoter.run_once() == 4

    with services.db.read() as conn:
        rows = list(conn.execute(select(events).where(events.c.type == "message.opened")))
    verdicts = {
        (row.copy_id, row.at.replace(tzinfo=UTC) - DELIVERED): (
            row.classification,
            row.proxy_type,
            row.machine,
            row.counts_for_metrics,
        )
        for row in rows
    }
    assert verdicts == {
        (gmail_reader, timedelta(hours=1)): ("privacy_proxy", "gmail_image_proxy", False, True),
        (apple_reader, timedelta(seconds=4)): ("privacy_proxy", "apple_mpp", True, False),
        (apple_reader, timedelta(days=2)): ("privacy_proxy", "apple_mpp", True, False),
        (chrome_reader, timedelta(minutes=10)): ("genuine", None, False, True),
    }

    with services.db.read() as conn:
        days = rollups.read(conn, [tenant.project.id], date(2026, 11, 23), date(2026, 11, 26))
    totals = {name: sum(day[name] for day in days.values()) for name in rollups.COUNTERS}
    assert totals["opened"] == 2  # the Gmail reader's and the person's
    assert totals["effective_opened"] == 2
    assert totals["human_opened"] == 1
    assert totals["privacy_opened"] == 3  # Gmail's and both of Apple's
    assert totals["machine_opened"] == 2  # Apple's

    body = {
        "metrics": [
            "human_opens",
            "privacy_opens",
            "privacy_opens_events",
            "machine_opens",
            "observed_opens",
        ],
        "from": "2026-11-23",
        "to": "2026-11-26",
    }
    answer = analytics.run(services.db, tenant.team, body, services.clock.now())
    assert answer["data"]["summary"]["metrics"] == {
        "human_opens": 1,
        "privacy_opens": 2,  # recipients: the Gmail reader and the Apple reader
        "privacy_opens_events": 3,
        "machine_opens": 0,  # bots and scanners only
        "observed_opens": 3,
    }
