"""GET /v1/stats: counters kept by the promoter, read per day, human and machine apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.store.schema import copies
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import promote

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PERSON = {"user-agent": CHROME, "accept-language": "en"}
HTML = (
    "<body>" + "".join(f'<a href="https://shop.example/{i}">{i}</a>' for i in range(3)) + "</body>"
)
URL = re.compile(r"/([co])/([A-Za-z0-9_-]{32})")


def tokens(services: Services) -> list[dict[str, list[str]]]:
    """Per copy: its open token and its click tokens (honeypot first)."""
    with services.db.read() as conn:
        raws = conn.execute(select(copies.c.raw).order_by(copies.c.id)).scalars().all()
    found = []
    for raw in raws:
        text = raw.decode().replace("=\r\n", "").replace("=3D", "=")
        found.append(
            {
                "o": [t for k, t in URL.findall(text) if k == "o"],
                "c": [t for k, t in URL.findall(text) if k == "c"],
            }
        )
    return found


def stats(base: str, tenant: Tenant, **query: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{base}/v1/stats",
        params={"from": "2026-11-23", "to": "2026-11-24", **query},
        headers={"authorization": f"Bearer {tenant.team_token}"},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_counters_separate_people_from_machines(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        sent = httpx.post(
            f"{base}/v1/send",
            headers={"x-lettermint-token": tenant.sending_token},
            json={
                "from": "s@shop.example",
                "to": ["a@x.example", "b@x.example"],
                "subject": "s",
                "html": HTML,
                "tag": "autumn",
            },
        )
        assert sent.status_code == 202
        first, second = tokens(services)
        # a: opens twice and clicks one link; b: an Apple MPP prefetch, a Slack preview
        httpx.get(f"{base}/o/{first['o'][0]}", headers=PERSON)
        httpx.get(f"{base}/o/{first['o'][0]}", headers=PERSON)
        httpx.get(f"{base}/c/{first['c'][2]}", headers=PERSON)
        httpx.get(f"{base}/o/{second['o'][0]}", headers={"user-agent": "Mozilla/5.0"})
        httpx.get(
            f"{base}/c/{second['c'][1]}",
            headers={"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        )
        services.clock.advance(seconds=6)
        assert promote(services) == 5
        people = stats(base, tenant)
        machines = stats(base, tenant, include_machine="1")
        tagged = stats(base, tenant, tag="autumn")
        untagged = stats(base, tenant, tag="other")
    totals = people["totals"]
    assert (totals["opened"], totals["unique_opened"]) == (2, 1)
    assert (totals["clicked"], totals["unique_clicked"]) == (1, 1)
    assert totals["effective_opened"] == 1
    assert (totals["machine_opened"], totals["machine_clicked"]) == (1, 1)
    assert (totals["human_opened"], totals["privacy_opened"]) == (2, 1)
    assert (machines["totals"]["opened"], machines["totals"]["unique_opened"]) == (3, 2)
    assert machines["totals"]["clicked"] == 2
    assert [d["date"] for d in people["daily"]] == ["2026-11-23", "2026-11-24"]
    assert people["daily"][0]["opened"] == 2
    assert people["daily"][1]["opened"] == 0
    assert tagged["totals"]["opened"] == 2
    assert untagged["totals"]["opened"] == 0


def test_stats_are_per_team_and_validate_their_query(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    with running(sqlite_url) as (base, services):
        mine = new_tenant(services.db, services.clock, "Mine")
        theirs = new_tenant(services.db, services.clock, "Theirs")
        answer = httpx.get(
            f"{base}/v1/stats",
            params={
                "from": "2026-11-23",
                "to": "2026-11-24",
                "project_id": theirs.project.public_id,
            },
            headers={"authorization": f"Bearer {mine.team_token}"},
        )
        bad = httpx.get(
            f"{base}/v1/stats",
            params={"from": "2026-11-25", "to": "2026-11-24"},
            headers={"authorization": f"Bearer {mine.team_token}"},
        )
        missing = httpx.get(
            f"{base}/v1/stats", headers={"authorization": f"Bearer {mine.team_token}"}
        )
        sending = httpx.get(
            f"{base}/v1/stats",
            params={"from": "2026-11-23", "to": "2026-11-24"},
            headers={"authorization": f"Bearer {mine.sending_token}"},
        )
    assert answer.status_code == 404
    assert bad.status_code == 422
    assert missing.status_code == 422
    assert sending.status_code == 403
