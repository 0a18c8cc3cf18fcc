"""The outbox in the database, on SQLite and PostgreSQL: claims, leases, recording."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from mailbeacon.clock import FixedClock
from mailbeacon.core.events import Event
from mailbeacon.core.webhooks.delivery import Reply, decide
from mailbeacon.service import events as recorded
from mailbeacon.store import webhook_deliveries as outbox
from mailbeacon.store import webhooks
from mailbeacon.store.db import Database
from mailbeacon.store.ids import new_id
from mailbeacon.store.schema import events as event_rows
from mailbeacon.store.schema import messages, webhook_attempts, webhook_deliveries
from tests.support.tenants import Tenant

LEASE = timedelta(minutes=5)


def webhook(db: Database, tenant: Tenant, clock: FixedClock, **values: object) -> webhooks.Webhook:
    fields: dict[str, object] = {
        "name": "W",
        "url": "https://hooks.example/in",
        "format": "lettermint",
        "events": ["message.created"],
        "enabled": True,
        "include_machine_events": False,
        "scope": "team",
        "project_ids": [],
        "route_ids": [],
        "delivery_mode_filter": "both",
        **values,
    }
    with db.write() as conn:
        return webhooks.create_webhook(conn, tenant.team.id, clock.now(), **fields)


def queue(db: Database, hook: webhooks.Webhook, clock: FixedClock, count: int) -> None:
    with db.write() as conn:
        for _ in range(count):
            recorded.enqueue_test(conn, hook, clock.now())


def claim(conn: object, clock: FixedClock, limit: int, room: int = 100) -> list[outbox.Due]:
    return outbox.claim_due(
        conn,  # type: ignore[arg-type]
        clock.now(),
        clock.now() + LEASE,
        limit,
        room=lambda _: room,
        skip_locked=conn.dialect.name == "postgresql",  # type: ignore[attr-defined]
    )


@pytest.fixture
def tenant(db: Database, tenant_factory: Callable[[Database], Tenant]) -> Tenant:
    return tenant_factory(db)


def test_two_dispatchers_never_claim_the_same_delivery(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    """On PostgreSQL the second claim runs while the first still holds its rows locked:
    SKIP LOCKED passes over them instead of waiting. SQLite serialises writers, and the
    first claim's leases keep its rows from the second."""
    queue(db, webhook(db, tenant, clock), clock, 20)
    if db.is_sqlite:
        with db.write() as first:
            one = claim(first, clock, 12)
        with db.write() as second:
            two = claim(second, clock, 20)
    else:
        with db.write() as first:
            one = claim(first, clock, 12)
            with db.write() as second:
                second.execute(text("SET LOCAL lock_timeout = '5s'"))  # fail, never hang
                two = claim(second, clock, 20)
    ids_one, ids_two = {d.id for d in one}, {d.id for d in two}
    assert (len(ids_one), len(ids_two)) == (12, 8)
    assert not ids_one & ids_two
    with db.write() as third:
        assert claim(third, clock, 20) == []


def test_a_lease_that_runs_out_makes_deliveries_due_again(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    queue(db, webhook(db, tenant, clock), clock, 3)
    with db.write() as conn:
        assert len(claim(conn, clock, 10)) == 3
    clock.advance(seconds=LEASE.total_seconds() - 1)
    with db.write() as conn:
        assert claim(conn, clock, 10) == []
    clock.advance(seconds=2)  # the dispatcher that held them died
    with db.write() as conn:
        again = claim(conn, clock, 10)
    assert [d.attempts_made for d in again] == [0, 0, 0]


def test_a_claim_takes_at_most_each_webhooks_room(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    first, second = webhook(db, tenant, clock), webhook(db, tenant, clock)
    queue(db, first, clock, 10)
    queue(db, second, clock, 10)
    with db.write() as conn:
        taken = claim(conn, clock, 100, room=3)
    assert sorted(d.webhook_id for d in taken) == [first.id] * 3 + [second.id] * 3


def test_a_disabled_webhooks_queue_is_given_up_but_not_its_tests(
    db: Database, tenant: Tenant, clock: FixedClock, tenant_factory: Callable[..., Tenant]
) -> None:
    hook = webhook(db, tenant, clock)
    queue(db, hook, clock, 1)
    with db.write() as conn:
        webhooks.update_webhook(conn, hook.id, clock.now(), enabled=False)
        [test] = claim(conn, clock, 10)
    assert test.event_type == "webhook.test"


def test_an_event_and_its_deliveries_commit_together(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    webhook(db, tenant, clock, events=["message.created"])
    with db.write() as conn:
        message_id = conn.execute(
            messages.insert()
            .values(
                public_id="m-1",
                project_id=tenant.project.id,
                source="lettermint",
                status="queued",
                from_email="a@shop.example",
                subject="S",
                to=[{"email": "x@example.org", "name": None}],
                cc=[],
                bcc=[],
                reply_to=[],
                tags=[],
                metadata={},
                attachments=[],
                raw=b"",
                track_opens=True,
                track_clicks=True,
                status_changed_at=clock.now(),
                created_at=clock.now(),
            )
            .returning(messages.c.id)
        ).scalar_one()
    created = Event(new_id(), tenant.project.id, message_id, "message.created", clock.now())

    def counts() -> tuple[int, int]:
        with db.read() as conn:
            made = conn.execute(select(func.count()).select_from(event_rows)).scalar_one()
            queued = conn.execute(select(func.count()).select_from(webhook_deliveries))
            return made, queued.scalar_one()

    def fail_after_the_enqueue() -> None:
        with db.write() as conn:
            recorded.record(conn, [created], clock.now())
            assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar() == 1
            raise RuntimeError("the transaction fails after the enqueue")

    with pytest.raises(RuntimeError):
        fail_after_the_enqueue()
    assert counts() == (0, 0)
    with db.write() as conn:
        recorded.record(conn, [created], clock.now())
    assert counts() == (1, 1)


def test_recording_for_a_deleted_webhook_is_a_no_op(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    hook = webhook(db, tenant, clock)
    queue(db, hook, clock, 1)
    with db.write() as conn:
        [due] = claim(conn, clock, 10)
    with db.write() as conn:
        webhooks.delete_webhook(conn, hook.id)
    outcome = outbox.Outcome(
        delivery_id=due.id,
        webhook_id=hook.id,
        attempt_number=1,
        at=clock.now(),
        decision=decide(Reply(200), 1),
        http_status_code=200,
        duration_ms=3,
        response_body="ok",
        response_headers=None,
    )
    with db.write() as conn:
        outbox.record(conn, [outcome], clock.now())
        assert conn.execute(select(func.count()).select_from(webhook_attempts)).scalar_one() == 0


def succeeded(due: outbox.Due, clock: FixedClock) -> outbox.Outcome:
    return outbox.Outcome(
        delivery_id=due.id,
        webhook_id=due.webhook_id,
        attempt_number=due.attempts_made + 1,
        at=clock.now(),
        decision=decide(Reply(200), 1),
        http_status_code=200,
        duration_ms=3,
        response_body="ok",
        response_headers=["content-length: 2"],
    )


def test_recording_leaves_out_only_what_a_deleted_webhook_took_along(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    kept, deleted = webhook(db, tenant, clock), webhook(db, tenant, clock)
    queue(db, kept, clock, 2)
    queue(db, deleted, clock, 2)
    with db.write() as conn:
        claimed = claim(conn, clock, 10)
    with db.write() as conn:
        webhooks.delete_webhook(conn, deleted.id)
    with db.write() as conn:
        outbox.record(conn, [succeeded(due, clock) for due in claimed], clock.now())
    with db.read() as conn:
        attempts = conn.execute(select(webhook_attempts.c.delivery_id, webhook_attempts.c.status))
        rows = conn.execute(select(webhook_deliveries.c.id, webhook_deliveries.c.status))
        assert sorted(attempts) == [(d.id, "success") for d in claimed if d.webhook_id == kept.id]
        assert sorted(rows) == [(d.id, "success") for d in claimed if d.webhook_id == kept.id]
