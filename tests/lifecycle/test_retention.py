"""Retention, end to end on both databases: mail sent and clicked through a running server,
then purged by the retention worker's passes; what is left is exactly what the settings keep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.store.schema import (
    copies,
    events,
    messages,
    observations,
    stats_daily,
    webhook_deliveries,
)
from mailbeacon.workers.retention import Retention, RetentionPolicy
from tests.lifecycle.mail import capture, open_and_click, send, subscribe
from tests.support.tenants import new_tenant
from tests.support.workers import promote


def _state(services: Services) -> dict[str, Any]:
    """Per message (public id): its bodies, its copies' bytes, its raw hits and its events'
    personal fields."""
    with services.db.read() as conn:
        found: dict[str, Any] = {}
        for row in conn.execute(select(messages)):
            copy_rows = conn.execute(
                select(copies.c.id, copies.c.raw).where(copies.c.message_id == row.id)
            ).all()
            copy_ids = [c.id for c in copy_rows]
            hits = conn.execute(
                select(observations.c.ip, observations.c.user_agent).where(
                    observations.c.copy_id.in_(copy_ids)
                )
            ).all()
            people = conn.execute(
                select(events.c.type, events.c.recipient, events.c.user_agent).where(
                    events.c.message_id == row.id
                )
            ).all()
            found[row.public_id] = {
                "html": row.html,
                "text": row.text,
                "raw": bytes(row.raw),
                "copies": [bytes(c.raw) for c in copy_rows],
                "hits": len(hits),
                "recipients": {e.recipient for e in people},
                "agents": {e.user_agent for e in people if e.type == "message.clicked"},
                "events": len(people),
            }
        counters = [tuple(r) for r in conn.execute(select(stats_daily).order_by("day"))]
    return {"messages": found, "counters": counters}


def test_a_purge_leaves_exactly_what_the_settings_keep(
    running: Callable[..., Any], database_url: str
) -> None:
    with running(
        database_url, retention_personal_days="60", webhook_allow_private_networks="true"
    ) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        subscribe(base, tenant.team_token)
        old = send(base, tenant.sending_token, "ann@example.org")
        capture(services)
        open_and_click(base, services, old)
        services.clock.advance(seconds=6)
        promote(services)
        services.clock.advance(days=30)
        new = send(base, tenant.sending_token, "bob@example.org")
        capture(services)
        open_and_click(base, services, new)
        services.clock.advance(seconds=6)
        promote(services)
        with services.db.write() as conn:  # the dispatcher's work, done
            conn.execute(webhook_deliveries.update().values(next_retry_at=None))
        before = _state(services)
        retention = Retention(
            services.db, services.clock, RetentionPolicy.from_settings(services.settings), batch=2
        )

        done = retention.run_until_done()

        after = _state(services)
        assert done["hits"] == 2  # the old message's open and click
        assert after["counters"] == before["counters"]  # counters stay
        kept, purged = after["messages"][new], after["messages"][old]
        assert kept == before["messages"][new]  # younger than every period: untouched
        assert purged["html"] is None
        assert purged["text"] is None
        assert purged["raw"].endswith(b"\r\n\r\n")
        assert b"Subject: News for" in purged["raw"]
        assert b"<html>" not in purged["raw"]
        assert purged["copies"] == [b""]
        assert purged["hits"] == 0
        assert purged["events"] == before["messages"][old]["events"]  # events stay
        assert "ann@example.org" in purged["recipients"]  # personal fields: 60 days
        assert purged["agents"]
        assert None not in purged["agents"]
        team = {"authorization": f"Bearer {tenant.team_token}"}
        gone = httpx.get(f"{base}/v1/messages/{old}/html", headers=team)
        assert gone.status_code == 410
        assert gone.json()["message"]
        assert httpx.get(f"{base}/v1/messages/{new}/html", headers=team).status_code == 200

        assert retention.run_until_done() == dict.fromkeys(done, 0)  # nothing left to do

        services.clock.advance(days=31)  # the old message is 61 days old, the new one 31
        retention.run_until_done()
        final = _state(services)["messages"]
        assert final[old]["recipients"] == {None}
        assert final[old]["agents"] == {None}
        assert "bob@example.org" in final[new]["recipients"]
        assert final[new]["hits"] == 0
        assert final[new]["copies"] == [b""]
        with services.db.read() as conn:
            payloads = conn.execute(select(webhook_deliveries.c.payload)).scalars().all()
        assert payloads
        assert set(payloads) == {""}
