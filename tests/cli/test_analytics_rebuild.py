"""`mailbeacon analytics rebuild` recomputes the analytics counters from the events: data
recorded before the counters existed answers POST /v1/analytics as the events say."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete

from mailbeacon.cli import main
from mailbeacon.service import analytics
from mailbeacon.service.context import Services
from mailbeacon.store import tenancy
from mailbeacon.store.schema import analytics_daily, analytics_hourly
from tests.conftest import SIGNING_KEYS
from tests.store.test_analytics_rollup import METRICS, populate

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
QUERIES: list[dict[str, Any]] = [
    {"metrics": METRICS, "include": ["summary", "time_series"]},
    {"metrics": METRICS, "include": ["breakdown"], "group_by": ["tag"]},
    {"metrics": ["human_clicks", "bot_clicks_events"], "include": ["breakdown"],
     "group_by": ["link"]},
]  # fmt: skip


def answers(services: Services, team: tenancy.Team) -> list[Any]:
    window = {"from": "2026-11-22", "to": "2026-11-26"}
    return [analytics.run(services.db, team, {**window, **query}, NOW)["data"] for query in QUERIES]


def test_rebuild_restores_counters_from_the_events(
    make_services: Callable[..., Services],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    services = make_services(database_url)
    team = populate(services, 5)
    kept = answers(services, team)
    with services.db.write() as conn:  # events from before the counters: none kept
        conn.execute(delete(analytics_hourly))
        conn.execute(delete(analytics_daily))
        sid = tenancy.list_projects(conn, team.id)[0].sid
    assert answers(services, team) != kept
    monkeypatch.setenv("MAILBEACON_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", SIGNING_KEYS)
    assert main(["analytics", "rebuild", "--project", sid]) == 0
    assert f"rebuilt for 1 project(s): {sid}" in capsys.readouterr().out
    assert answers(services, team) == kept
    assert main(["analytics", "rebuild"]) == 0  # every project
    assert "rebuilt for 1 project(s)" in capsys.readouterr().out


def test_an_unknown_project_is_named_and_fails(
    make_services: Callable[..., Services],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_services(sqlite_url)
    monkeypatch.setenv("MAILBEACON_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", SIGNING_KEYS)
    assert main(["analytics", "rebuild", "--project", "nope"]) == 2
    assert "No such project 'nope'" in capsys.readouterr().err
