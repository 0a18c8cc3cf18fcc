"""The hourly rollup and a scan of the events give the same answers, on random events, on
SQLite and PostgreSQL (the rollup is written by service/events.record from the catalogue,
the scan is SQL generated from it)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mailbeacon.core.analytics.classes import firsts
from mailbeacon.core.events import Event
from mailbeacon.core.intake.policy import RouteType
from mailbeacon.service import analytics
from mailbeacon.service.accept import Intake, accept
from mailbeacon.service.context import Services
from mailbeacon.service.events import record
from mailbeacon.store import tenancy
from mailbeacon.store.analytics import Period, source_for
from mailbeacon.store.analytics_rollups import rebuild
from mailbeacon.store.ids import new_id
from mailbeacon.store.schema import (
    ANALYTICS_COUNTS,
    analytics_daily,
    analytics_hourly,
    analytics_values,
    copies,
)
from tests.conftest import START

CLASSIFICATIONS = ["genuine", "privacy_proxy", "security_scanner", "link_preview", "generic_bot"]
RAW = (
    b"From: s@shop.example\r\nTo: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: text/html; charset=utf-8\r\n\r\n<a href="https://shop.example/">x</a>\r\n'
)
METRICS = [
    "messages",
    "accepted",
    "delivered",
    "bounced",
    "soft_bounced",
    "open_tracked_delivered",
    "human_opens",
    "human_opens_events",
    "privacy_opens",
    "machine_clicks",
    "machine_clicks_events",
    "scanner_clicks",
    "bot_opens",
    "observed_clicks",
    "delivery_rate",
    "human_open_rate",
    "preview_opens_events",
    "preview_clicks_events",
]


def populate(services: Services, seed: int) -> tenancy.Team:
    """A team with messages on two routes and a few hundred random events over three days."""
    rng = random.Random(seed)
    db = services.db
    with db.write() as conn:
        team, _ = tenancy.create_team(conn, "Rollup", START)
        project, _ = tenancy.create_project(conn, team.id, "Rollup", START)
        tenancy.create_route(conn, project.id, "News", RouteType.BROADCAST, START, slug="news")
    for m in range(6):
        recipients = [(f"r{m}-{r}@x{r}.example", "to") for r in range(rng.randint(1, 3))]
        intake = Intake(
            raw=RAW,
            recipients=recipients,
            source="smtp",
            from_email="s@shop.example",
            from_name=None,
            subject="s",
            to=[],
            route=rng.choice([None, "news"]),
            tag=f"t{m % 3}" if m < 5 else None,
            tags=[{"name": "campaign", "value": f"c{m % 2}"}, {"name": "other", "value": "o"}],
        )
        accept(db, services.instrumenter, project, intake, START + timedelta(hours=m * 7))
    with db.read() as conn:
        found = conn.execute(select(copies.c.id, copies.c.message_id, copies.c.recipient)).all()
    made: list[Event] = []
    for copy_id, message_id, recipient in found:
        moments = sorted(START + timedelta(minutes=rng.randint(0, 72 * 60)) for _ in range(12))
        outcome = rng.choice(["message.sent", "message.sent", "message.failed"])
        made.append(
            Event(
                new_id(),
                project.id,
                message_id,
                outcome,
                moments[0],
                copy_id,
                recipient=recipient,
                data={"permanent": rng.random() < 0.5} if outcome == "message.failed" else {},
            )
        )
        after = rng.choice([None, *AFTER])  # what may follow: a bounce, an unsubscribe, ...
        if after is not None:
            made.append(
                Event(
                    new_id(),
                    project.id,
                    message_id,
                    after,
                    moments[0] + timedelta(minutes=1),
                    copy_id,
                    recipient=recipient,
                    data={"out_of_band": rng.random() < 0.5, "permanent": rng.random() < 0.5},
                )
            )
        had: dict[str, set[str]] = {"message.opened": set(), "message.clicked": set()}
        for moment in moments[1:]:
            kind = rng.choice(list(had))
            classification = rng.choice(CLASSIFICATIONS)
            bits = firsts(classification, had[kind])[0]
            had[kind].add(classification)
            index = rng.randint(0, 2) if kind == "message.clicked" else None
            made.append(
                Event(
                    new_id(),
                    project.id,
                    message_id,
                    kind,
                    moment,
                    copy_id,
                    recipient=recipient,
                    link_index=index,
                    url=None if index is None else f"https://shop.example/{index}",
                    classification=classification,
                    proxy_type="apple_mpp" if classification == "privacy_proxy" else None,
                    family=rng.choice([None, "microsoft", "slack"]),
                    client_name=rng.choice([None, "Chrome", "Outlook"]),
                    device_type=rng.choice(["desktop", "mobile"]),
                    firsts=bits,
                )
            )
    rng.shuffle(made)
    with db.write() as conn:
        for start in range(0, len(made), 50):
            record(conn, made[start : start + 50], START)
    return team


# events after sending, each a recipient's (the bounces in band or out of band)
AFTER = (
    "message.hard_bounced",
    "message.soft_bounced",
    "message.suppressed",
    "message.unsubscribed",
)
CLICKS = ["human_clicks", "machine_clicks_events", "observed_clicks", "bot_clicks"]
QUERIES: list[dict[str, Any]] = [
    {"include": ["summary", "breakdown"], "group_by": ["tag"], "limit": 2},
    {"include": ["breakdown"], "group_by": ["recipient_domain"], "include_trend": True},
    {
        "include": ["summary", "time_series"],
        "compare": "previous_period",
        "filters": [{"dimension": "tag", "operator": "in", "values": ["t0", "t2"]}],
    },
    {"include": ["summary"], "filters": [{"dimension": "tag", "operator": "is_null"}]},
    {
        "metrics": CLICKS,
        "include": ["breakdown"],
        "group_by": ["link"],
        "sort": {"metric": "human_clicks", "direction": "asc"},
    },
    {
        "metrics": CLICKS,
        "include": ["breakdown"],
        "group_by": ["link_index"],
        "filters": [{"dimension": "link_index", "operator": "not_in", "values": ["1"]}],
    },
    {"metrics": CLICKS, "include": ["breakdown"], "group_by": ["client_name"]},
    # ranked from the values' totals (store/analytics_top.py): all days, and a window that
    # cuts values' days
    {
        "include": ["breakdown"],
        "group_by": ["tag"],
        "sort": {"metric": "human_opens", "direction": "desc"},
        "limit": 2,
    },
    {
        "metrics": [*CLICKS, "human_clicks_events"],
        "include": ["breakdown"],
        "group_by": ["link"],
        "sort": {"metric": "human_clicks_events", "direction": "desc"},
        "limit": 2,
        "from": "2026-11-24",
        "to": "2026-11-24",
    },
    {
        "metrics": CLICKS,
        "include": ["summary", "breakdown"],
        "group_by": ["classification"],
        "compare": "previous_period",
        "from": "2026-11-24",
        "to": "2026-11-25",
    },
    {"include": ["summary", "time_series"]},
    {"include": ["summary", "time_series"], "interval": "hour", "timezone": "Europe/Amsterdam"},
    {"include": ["time_series"], "timezone": "America/New_York", "compare": "previous_period"},
    {"include": ["summary", "breakdown"], "group_by": ["message_type", "route_id"]},
    {
        "include": ["breakdown"],
        "group_by": ["route_id"],
        "filters": [{"dimension": "message_type", "operator": "eq", "values": ["broadcast"]}],
        "sort": {"metric": "delivery_rate", "direction": "asc"},
    },
    {"include": ["summary"], "filters": [{"dimension": "route_id", "operator": "is_not_null"}]},
    {
        "include": ["summary", "time_series"],
        "from": "2026-11-24T05:00:00Z",
        "to": "2026-11-25T17:30:00Z",
        "interval": "hour",
    },
]


@pytest.mark.parametrize("seed", [1, 2])
def test_rollup_answers_equal_the_exact_ones(
    make_services: Callable[..., Services], database_url: str, seed: int
) -> None:
    services = make_services(database_url)
    team = populate(services, seed)
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    for query in QUERIES:
        body = {"metrics": METRICS, "from": "2026-11-22", "to": "2026-11-26", **query}
        if "group_by" in body and body["metrics"] is METRICS:
            level = {"tag": METRICS, "recipient_domain": METRICS[2:]}
            body["metrics"] = level.get(body["group_by"][0], body["metrics"])
        fast = analytics.run(services.db, team, body, now)
        exact = analytics.run(services.db, team, body, now, exact=True)
        assert fast["data"] == exact["data"], query
        assert _counted(fast["data"]), query  # not an agreement on nothing


def _counted(found: Any) -> bool:
    """Whether an answer holds a count above zero anywhere."""
    if isinstance(found, dict):
        return any(_counted(v) for k, v in found.items() if k not in ("rate_bases", "change"))
    if isinstance(found, list):
        return any(_counted(v) for v in found)
    return isinstance(found, int) and not isinstance(found, bool) and found > 0


def test_each_query_shape_is_answered_by_the_table_meant_for_it() -> None:
    days = [Period(datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 27, 9, tzinfo=UTC), True)]
    hours = [Period(datetime(2026, 11, 22, 5, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))]
    assert source_for([], [], 3600, hours) == "hourly"
    assert source_for(["route_id", "message_type"], ["project_id"], None, hours) == "hourly"
    assert source_for(["tag"], ["tag"], 86400, days) == "daily"
    assert source_for([], ["link"], None, days) == "daily"
    assert source_for(["tag"], [], None, hours) == "events"  # not whole days
    assert source_for(["tag"], ["link"], None, days) == "events"  # two dimensions
    assert source_for(["subject"], [], None, days) == "events"


def test_a_rebuild_from_the_events_gives_the_counters_the_writer_kept(
    make_services: Callable[..., Services], database_url: str
) -> None:
    services = make_services(database_url)
    populate(services, 3)

    def counters() -> dict[str, set[tuple[Any, ...]]]:
        found: dict[str, set[tuple[Any, ...]]] = {}
        with services.db.read() as conn:
            for table in (analytics_hourly, analytics_daily, analytics_values):
                rows = conn.execute(select(table)).all()
                # a group whose counts are all zero is the same as no row
                found[table.name] = {
                    tuple(row) for row in rows if any(row._mapping[n] for n in ANALYTICS_COUNTS)
                }
        return found

    kept = counters()
    with services.db.write() as conn:
        rebuild(conn)
    assert counters() == kept
    assert len(kept["analytics_daily"]) > 50


def test_class_filters_and_named_tags_agree_with_the_plain_counts(
    make_services: Callable[..., Services], database_url: str
) -> None:
    services = make_services(database_url)
    team = populate(services, 4)
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    window = {"from": "2026-11-22", "to": "2026-11-26"}
    opens = ["human_opens_events", "bot_opens_events", "observed_opens"]

    def summary(**body: Any) -> dict[str, int]:
        found = analytics.run(services.db, team, {"metrics": opens, **window, **body}, now)
        return dict(found["data"]["summary"]["metrics"])

    plain = summary()
    human = summary(filters=[{"dimension": "is_human", "operator": "eq", "values": ["1"]}])
    bots = summary(filters=[{"dimension": "is_bot", "operator": "eq", "values": ["1"]}])
    assert human == {**dict.fromkeys(opens, 0), "human_opens_events": plain["human_opens_events"],
                     "observed_opens": human["observed_opens"]}  # fmt: skip
    assert plain["human_opens_events"] > 0
    assert bots["bot_opens_events"] == plain["bot_opens_events"]
    assert bots["human_opens_events"] == bots["observed_opens"] == 0
    body = {"metrics": ["messages", "delivered"], "include": ["summary", "breakdown"], **window}
    named = analytics.run(services.db, team, {**body, "group_by": ["tag:campaign"]}, now)["data"]
    rows = {row["dimensions"]["tag:campaign"]: row["metrics"] for row in named["breakdown"]}
    assert set(rows) == {"c0", "c1"}
    assert sum(r["messages"] for r in rows.values()) == named["summary"]["metrics"]["messages"]
    assert rows["c0"]["messages"] == 3  # messages 0, 2 and 4 of six
