"""Deleting a project, end to end on both databases: gone from its team at once (token,
lookups, lists, messages), its data purged afterwards in small batches by the retention
worker, every row of it, and nothing of the team's other project."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from mailbeacon.app import Services
from mailbeacon.store.schema import (
    analytics_daily,
    analytics_hourly,
    copies,
    events,
    messages,
    projects,
    stats_daily,
    teams,
    webhook_deliveries,
)
from mailbeacon.workers.retention import Retention, RetentionPolicy
from tests.lifecycle.mail import capture, open_and_click, send, subscribe
from tests.support.tenants import new_tenant
from tests.support.workers import promote


def _rows(services: Services, project_id: int) -> dict[str, int]:
    """How many rows of each table belong to the project."""
    counts = {}
    with services.db.read() as conn:
        for table in (messages, events, stats_daily, analytics_hourly, analytics_daily):
            query = select(func.count()).where(table.c.project_id == project_id)
            counts[table.name] = conn.execute(query).scalar_one()
        counts["copies"] = conn.execute(
            select(func.count())
            .select_from(copies.join(messages))
            .where(messages.c.project_id == project_id)
        ).scalar_one()
        counts["webhook_deliveries"] = conn.execute(
            select(func.count()).where(webhook_deliveries.c.project_id == project_id)
        ).scalar_one()
        counts["projects"] = conn.execute(
            select(func.count()).where(projects.c.id == project_id)
        ).scalar_one()
    return counts


def test_a_deleted_project_is_gone_at_once_and_its_data_soon_after(
    running: Callable[..., Any], database_url: str
) -> None:
    with running(database_url, webhook_allow_private_networks="true") as (base, services):
        tenant = new_tenant(services.db, services.clock)
        team = {"authorization": f"Bearer {tenant.team_token}"}
        subscribe(base, tenant.team_token)
        created = httpx.post(f"{base}/v1/projects", json={"name": "Kept"}, headers=team).json()
        kept_token = created["api_token"]
        doomed = [send(base, tenant.sending_token, f"r{i}@example.org") for i in range(3)]
        kept = send(base, kept_token, "k@example.org")
        capture(services)
        for message in doomed:
            open_and_click(base, services, message)
        open_and_click(base, services, kept)
        services.clock.advance(seconds=6)
        promote(services)
        with services.db.read() as conn:
            kept_id = conn.execute(
                select(projects.c.id).where(projects.c.public_id == created["data"]["id"])
            ).scalar_one()
        doomed_id = tenant.project.id
        before = _rows(services, doomed_id)
        kept_before = _rows(services, kept_id)
        assert all(before.values())  # every kind of row exists before

        answer = httpx.delete(f"{base}/v1/projects/{tenant.project.public_id}", headers=team)

        assert answer.status_code == 200
        assert answer.json()["message"]
        project = httpx.get(f"{base}/v1/projects/{tenant.project.public_id}", headers=team)
        assert project.status_code == 404
        listed = httpx.get(f"{base}/v1/projects", headers=team).json()["data"]
        assert [p["id"] for p in listed] == [created["data"]["id"]]
        refused = httpx.post(
            f"{base}/v1/send",
            json={"from": "a@shop.example", "to": ["b@example.org"], "subject": "s", "text": "t"},
            headers={"x-lettermint-token": tenant.sending_token},
        )
        assert refused.status_code == 401
        assert httpx.get(f"{base}/v1/messages/{doomed[0]}", headers=team).status_code == 404
        shown = httpx.get(f"{base}/v1/messages", headers=team).json()["data"]
        assert [m["id"] for m in shown] == [kept]
        assert _rows(services, doomed_id) == before  # its data goes in the background

        retention = Retention(
            services.db, services.clock, RetentionPolicy(None, None, None), batch=2
        )
        done = retention.run_until_done()

        assert done["deleted_projects"] > sum(before.values()) // 2  # batches of two
        assert set(_rows(services, doomed_id).values()) == {0}
        assert _rows(services, kept_id) == kept_before
        with services.db.read() as conn:
            names = conn.execute(select(teams.c.name)).scalars().all()
        assert names == ["Acme"]  # the deleted project's own team went with it
