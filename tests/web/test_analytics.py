"""POST /v1/analytics through Lettermint's official SDK, on SQLite and PostgreSQL: every figure
equals a count made here, independently, from the events the test caused."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lettermint import Lettermint
from sqlalchemy import select

from mailbeacon.service.context import Services
from mailbeacon.smtp.upstream import Capture, Outcome, Result
from mailbeacon.store.schema import copies, events, messages
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import deliver, promote

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PERSON = {"user-agent": CHROME, "accept-language": "en"}
MPP = {"user-agent": "Mozilla/5.0"}  # Apple Mail Privacy Protection's prefetch
SLACK = {"user-agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}
HTML = (
    "<body>" + "".join(f'<a href="https://shop.example/{i}">{i}</a>' for i in range(3)) + "</body>"
)
URL = re.compile(r"/([co])/([A-Za-z0-9_-]{32})")
COUNTS = [
    "messages",
    "accepted",
    "processed",
    "delivered",
    "bounced",
    "soft_bounced",
    "transport_outcome_recipients",
    "open_tracked_delivered",
    "click_tracked_delivered",
    *(
        f"{c}_{k}{e}"
        for c in ("human", "privacy", "bot", "scanner", "machine", "observed")
        for k in ("opens", "clicks")
        for e in ("", "_events")
    ),
    "preview_opens_events",
    "preview_clicks_events",
]
RATES = ["delivery_rate", "bounce_rate", "human_open_rate", "human_click_rate"]
CLASSES = {
    "human": {"genuine"},
    "privacy": {"privacy_proxy"},
    "bot": {"link_preview", "generic_bot"},
    "scanner": {"security_scanner"},
    "machine": {"link_preview", "generic_bot", "security_scanner"},
    "observed": {"genuine", "privacy_proxy"},
}


class Refusing(Capture):
    """Captures, but a permanent refusal for recipients at refuse.example."""

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        if recipient.endswith("@refuse.example"):
            return Result(Outcome.PERMANENT, "550 5.1.1 no such user")
        return Result(Outcome.CAPTURED)


class World:
    def __init__(self, base: str, services: Services, tenant: Tenant) -> None:
        self.base, self.services, self.tenant = base, services, tenant
        self.lm = Lettermint(team_token=tenant.team_token, base_url=f"{base}/v1")
        self.seen_copies = 0

    def send(self, to: list[str], tag: str) -> list[dict[str, list[str]]]:
        """Send, deliver, and the tracking tokens of the new copies."""
        answer = httpx.post(
            f"{self.base}/v1/send",
            headers={"x-lettermint-token": self.tenant.sending_token},
            json={"from": "s@shop.example", "to": to, "subject": "s", "html": HTML, "tag": tag},
        )
        assert answer.status_code == 202, answer.text
        asyncio.run(deliver(self.services, Refusing()))
        with self.services.db.read() as conn:
            raws = conn.execute(select(copies.c.raw).order_by(copies.c.id)).scalars().all()
        made = []
        for raw in raws[self.seen_copies :]:
            text = raw.decode().replace("=\r\n", "").replace("=3D", "=")
            found = URL.findall(text)
            made.append(
                {"o": [t for k, t in found if k == "o"], "c": [t for k, t in found if k == "c"]}
            )
        self.seen_copies = len(raws)
        return made

    def hit(self, kind: str, token: str, headers: dict[str, str]) -> None:
        httpx.get(f"{self.base}/{kind}/{token}", headers=headers)

    def promote(self) -> None:
        self.services.clock.advance(seconds=6)
        promote(self.services)
        self.services.clock.advance(seconds=1)

    def query(self, **body: Any) -> dict[str, Any]:
        return dict(self.lm.analytics(body))  # type: ignore[arg-type]


@pytest.fixture
def world(running: Callable[..., Any], database_url: str) -> Iterator[World]:
    with running(database_url) as (base, services):
        made = World(base, services, new_tenant(services.db, services.clock))
        with made.lm:
            yield made


def engage(world: World) -> None:
    """Day one (2026-11-23): a person opens twice and clicks two links; an Apple MPP open and
    a Slack preview; a refused recipient. Day two: another message, a person opens it."""
    a, b, _refused = world.send(["a@x.example", "b@y.example", "c@refuse.example"], "autumn")
    later = world.services.clock.advance
    later(minutes=5)  # people read minutes after delivery, and not all links at once
    world.hit("o", a["o"][0], PERSON)
    later(minutes=1)
    world.hit("o", a["o"][0], PERSON)
    later(minutes=1)
    world.hit("c", a["c"][2], PERSON)
    later(minutes=1)
    world.hit("c", a["c"][3], PERSON)
    world.hit("o", b["o"][0], MPP)
    world.hit("c", b["c"][1], SLACK)
    world.promote()
    world.services.clock.advance(days=1)
    (d,) = world.send(["d@x.example"], "winter")
    later(minutes=5)
    world.hit("o", d["o"][0], PERSON)
    later(minutes=1)
    world.hit("c", d["c"][1], PERSON)
    world.promote()


def expected(world: World, start: datetime, end: datetime, **only: Any) -> dict[str, Any]:
    """The counts, made from the events table row by row, without the firsts column: a
    unique is a copy whose earliest event of the class and kind (by time, then id) falls in
    the window."""
    with world.services.db.read() as conn:
        rows = conn.execute(
            select(events, messages.c.tag, messages.c.track_opens, messages.c.track_clicks)
            .join(messages, messages.c.id == events.c.message_id)
            .order_by(events.c.at, events.c.id)
        ).all()
    earliest: dict[tuple[int, str, str], int] = {}  # the first event's id
    for row in rows:
        if row.classification:
            for name, members in CLASSES.items():
                if row.classification in members:
                    earliest.setdefault((row.copy_id, row.type, name), row.id)
    got = dict.fromkeys(COUNTS, 0)
    for row in rows:
        if not start <= row.at < end:
            continue
        if any(getattr(row, key) != value for key, value in only.items()):
            continue
        kind = row.type
        if kind == "message.created":
            got["messages"] += 1
            got["accepted"] += row.data["recipients"]
        elif kind == "message.sent":
            got["processed"] += 1
            got["delivered"] += 1
            got["transport_outcome_recipients"] += 1
            got["open_tracked_delivered"] += bool(row.track_opens)
            got["click_tracked_delivered"] += bool(row.track_clicks)
        elif kind == "message.failed":
            got["processed"] += 1
            got["transport_outcome_recipients"] += 1
            got["bounced" if row.data["permanent"] else "soft_bounced"] += 1
        else:
            what = "opens" if kind == "message.opened" else "clicks"
            for name, members in CLASSES.items():
                if row.classification in members:
                    got[f"{name}_{what}_events"] += 1
                    got[f"{name}_{what}"] += earliest[(row.copy_id, kind, name)] == row.id
            got[f"preview_{what}_events"] += row.classification == "link_preview"
    got["delivery_rate"] = _rate(got["delivered"], got["transport_outcome_recipients"])
    got["bounce_rate"] = _rate(got["bounced"], got["transport_outcome_recipients"])
    got["human_open_rate"] = _rate(got["human_opens"], got["open_tracked_delivered"])
    got["human_click_rate"] = _rate(got["human_clicks"], got["click_tracked_delivered"])
    return got


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


DAY1 = datetime(2026, 11, 23, tzinfo=UTC)
DAY2 = datetime(2026, 11, 24, tzinfo=UTC)
DAY3 = datetime(2026, 11, 25, tzinfo=UTC)


def test_summary_and_daily_series_equal_the_events(world: World) -> None:
    engage(world)
    answer = world.query(
        metrics=[*COUNTS, *RATES],
        include=["summary", "time_series"],
        **{"from": "2026-11-23", "to": "2026-11-24"},
    )
    summary = answer["data"]["summary"]
    assert summary["metrics"] == expected(world, DAY1, DAY3)
    assert summary["metrics"]["human_opens"] == 2  # a and d, once each
    assert summary["metrics"]["human_opens_events"] == 3
    assert summary["metrics"]["privacy_opens"] == 1
    assert summary["metrics"]["bot_clicks"] == summary["metrics"]["machine_clicks"] == 1
    assert summary["metrics"]["preview_clicks_events"] == 1  # Slack's preview is one
    assert summary["metrics"]["bounced"] == 1
    assert summary["rate_bases"]["delivery_rate"] == {"numerator": 3, "denominator": 4}
    days = answer["data"]["time_series"]
    assert [(p["from"], p["to"]) for p in days] == [
        ("2026-11-23T00:00:00.000Z", "2026-11-24T00:00:00.000Z"),
        ("2026-11-24T00:00:00.000Z", "2026-11-25T00:00:00.000Z"),
    ]
    assert days[0]["metrics"] == expected(world, DAY1, DAY2)
    assert days[1]["metrics"] == expected(world, DAY2, DAY3)
    meta = answer["meta"]
    assert (meta["from"], meta["to"]) == ("2026-11-23T00:00:00.000Z", "2026-11-25T00:00:00.000Z")
    assert meta["ongoing"] is True
    assert meta["effective_to"] == meta["generated_at"]
    assert meta["last_ingested_at"] is not None
    assert answer["pagination"]["next_cursor"] is None


def test_compare_with_the_previous_day(world: World) -> None:
    engage(world)
    answer = world.query(
        metrics=["human_opens", "delivered", "human_open_rate"],
        compare="previous_period",
        **{"from": "2026-11-24", "to": "2026-11-24"},
    )
    summary = answer["data"]["summary"]
    now, before = expected(world, DAY2, DAY3), expected(world, DAY1, DAY2)
    assert summary["metrics"]["human_opens"] == now["human_opens"] == 1
    assert summary["previous"]["metrics"]["human_opens"] == before["human_opens"] == 1
    assert summary["previous"]["metrics"]["delivered"] == before["delivered"] == 2
    assert summary["change"]["delivered"] == {
        "absolute": now["delivered"] - before["delivered"],
        "relative": (now["delivered"] - before["delivered"]) / before["delivered"],
    }
    points = summary["change"]["human_open_rate"]["percentage_points"]
    assert points == pytest.approx((now["human_open_rate"] - before["human_open_rate"]) * 100)
    assert answer["meta"]["comparison"]["from"] == "2026-11-23T00:00:00.000Z"


def test_breakdowns_by_tag_and_by_link_page_through_the_sdk(world: World) -> None:
    engage(world)
    window = {"from": "2026-11-23", "to": "2026-11-24"}
    tags = world.query(
        metrics=["delivered", "human_opens"], include=["breakdown"], group_by=["tag"], **window
    )
    by_tag = {row["dimensions"]["tag"]: row["metrics"] for row in tags["data"]["breakdown"]}
    assert by_tag == {
        tag: {k: expected(world, DAY1, DAY3, tag=tag)[k] for k in ("delivered", "human_opens")}
        for tag in ("autumn", "winter")
    }
    pages = list(
        world.lm.analytics_pages(
            {  # type: ignore[typeddict-item]
                "metrics": ["human_clicks_events", "bot_clicks_events"],
                "include": ["breakdown"],
                "group_by": ["link"],
                "sort": {"metric": "human_clicks_events", "direction": "desc"},
                "limit": 1,
                **window,
            }
        )
    )
    rows = [row for page in pages for row in page["data"]["breakdown"]]
    assert len(pages) == pages[0]["pagination"]["total_groups"] == len(rows) == 3
    by_link = {row["dimensions"]["link"]: row["metrics"] for row in rows}
    for link, metrics in by_link.items():
        mine = expected(world, DAY1, DAY3, url=link)
        assert metrics == {k: mine[k] for k in metrics}
    assert [row["metrics"]["human_clicks_events"] for row in rows] == [1, 1, 1]
    assert by_link["https://shop.example/0"]["bot_clicks_events"] == 1  # Slack's preview


def test_a_cursor_expires_an_hour_after_the_first_page(world: World) -> None:
    engage(world)
    body = {"metrics": ["delivered"], "include": ["breakdown"], "group_by": ["tag"], "limit": 1,
            "from": "2026-11-23", "to": "2026-11-24"}  # fmt: skip
    headers = {"authorization": f"Bearer {world.tenant.team_token}"}
    first = httpx.post(f"{world.base}/v1/analytics", headers=headers, json=body).json()
    cursor = first["pagination"]["next_cursor"]
    world.services.clock.advance(minutes=59)
    second = httpx.post(
        f"{world.base}/v1/analytics", headers=headers, json={**body, "cursor": cursor}
    )
    assert second.status_code == 200, second.text
    world.services.clock.advance(minutes=2)
    late = httpx.post(
        f"{world.base}/v1/analytics", headers=headers, json={**body, "cursor": cursor}
    )
    assert late.status_code == 422, late.text
    assert late.json()["error"]["code"] == "cursor_expired"
    assert "60 minutes" in late.json()["errors"]["cursor"][0]


def test_csv_has_a_header_and_one_row_per_group(world: World) -> None:
    engage(world)
    answer = httpx.post(
        f"{world.base}/v1/analytics",
        headers={"authorization": f"Bearer {world.tenant.team_token}", "accept": "text/csv"},
        json={
            "metrics": ["delivered", "human_open_rate"],
            "include": ["breakdown"],
            "group_by": ["tag"],
            "from": "2026-11-23",
            "to": "2026-11-24",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == ["tag", "delivered", "human_open_rate"]
    assert sorted(table[1:]) == [["autumn", "2", "0.5"], ["winter", "1", "1.0"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": ["no_such_metric"]}, "metrics[0]"),
        ({"metrics": ["human_opens", "complained"]}, "metrics[1]"),
        (
            {"metrics": ["delivered"], "include": ["breakdown"], "group_by": ["smtp_code"]},
            "group_by[0]",
        ),
        ({"metrics": ["delivered"], "include": ["breakdown"], "group_by": ["link"]}, "metrics"),
        ({"metrics": ["delivered"], "include": ["breakdown"]}, "group_by"),
        ({"metrics": ["delivered"], "group_by": ["tag"]}, "include"),
        (
            {"metrics": ["delivered"], "filters": [{"dimension": "tag", "operator": "eq"}]},
            "filters[0].values",
        ),
        (
            {"metrics": ["delivered"], "filters": [{"dimension": "tag", "operator": "like"}]},
            "filters[0].operator",
        ),
        (
            {
                "metrics": ["human_opens"],
                "filters": [{"dimension": "is_human", "operator": "eq", "values": ["0"]}],
            },
            "filters[0].values",
        ),
        ({"metrics": ["delivered"], "from": "2026-01-01", "to": "2026-11-23"}, "to"),
        ({"metrics": ["delivered"], "timezone": "Mars/Olympus"}, "timezone"),
        ({"metrics": ["delivered"], "limit": 201}, "limit"),
        ({"metrics": ["delivered"], "interval": "week"}, "interval"),
        ({"metrics": ["delivered"], "cursor": "bm9wZQ"}, "cursor"),
    ],
)
def test_bad_queries_are_422_naming_the_field(
    running: Callable[..., Any], sqlite_url: str, body: dict[str, Any], field: str
) -> None:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        answer = httpx.post(
            f"{base}/v1/analytics",
            headers={"authorization": f"Bearer {tenant.team_token}"},
            json=body,
        )
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["errors"], answer.text


def test_malformed_json_is_400_and_a_sending_token_403(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        bad = httpx.post(
            f"{base}/v1/analytics",
            headers={"authorization": f"Bearer {tenant.team_token}"},
            content=b"{nope",
        )
        sending = httpx.post(
            f"{base}/v1/analytics",
            headers={"authorization": f"Bearer {tenant.sending_token}"},
            json={"metrics": ["delivered"]},
        )
    assert bad.status_code == 400
    assert sending.status_code == 403


def test_hour_buckets_across_the_night_the_clocks_go_back(world: World) -> None:
    """Europe/Amsterdam, 2026-10-25: 02:00-03:00 happens twice (UTC 00:00 and 01:00), so the
    local day has 25 hourly buckets; an open in each of the two 02:xx hours lands apart."""
    clock = world.services.clock
    clock.set(datetime(2026, 10, 24, 23, 50, tzinfo=UTC))  # 01:50 summer time
    (a,) = world.send(["a@x.example"], "dst")
    opens = [
        datetime(2026, 10, 25, 0, 20, tzinfo=UTC),  # 02:20 summer time
        datetime(2026, 10, 25, 1, 20, tzinfo=UTC),  # 02:20 winter time
        datetime(2026, 10, 25, 1, 40, tzinfo=UTC),
    ]
    for moment in opens:
        clock.set(moment)
        world.hit("o", a["o"][0], PERSON)
    world.promote()
    clock.set(datetime(2026, 10, 27, tzinfo=UTC))
    day = {"from": "2026-10-25", "to": "2026-10-25", "timezone": "Europe/Amsterdam"}
    hours = world.query(
        metrics=["human_opens_events", "human_opens"],
        include=["time_series"],
        interval="hour",
        **day,
    )["data"]["time_series"]
    assert len(hours) == 25
    assert hours[0]["from"] == "2026-10-24T22:00:00.000Z"
    assert hours[-1]["to"] == "2026-10-25T23:00:00.000Z"
    busy = {
        p["from"]: p["metrics"]["human_opens_events"]
        for p in hours
        if p["metrics"]["human_opens_events"]
    }
    assert busy == {"2026-10-25T00:00:00.000Z": 1, "2026-10-25T01:00:00.000Z": 2}
    assert sum(p["metrics"]["human_opens"] for p in hours) == 1
    (whole,) = world.query(metrics=["human_opens_events"], include=["time_series"], **day)["data"][
        "time_series"
    ]
    assert (whole["from"], whole["to"]) == ("2026-10-24T22:00:00.000Z", "2026-10-25T23:00:00.000Z")
    assert whole["metrics"]["human_opens_events"] == 3
