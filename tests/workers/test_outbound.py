"""The outbound queue end to end: messages accepted by mailbeacon, delivered to a real SMTP
server (aiosmtpd), on SQLite and PostgreSQL. Time is the fixed clock; every pass is a direct
``deliver_due`` call."""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Row, select

from mailbeacon.app import Services
from mailbeacon.clock import FixedClock
from mailbeacon.config import Upstream
from mailbeacon.core.instrumentation.tokens import Purpose
from mailbeacon.core.lettermint.submission import from_lettermint
from mailbeacon.core.retry import OUTBOUND_SCHEDULE
from mailbeacon.service.accept import Accepted, accept, intake_from_submission
from mailbeacon.smtp.upstream import Capture, Outcome, Result, Sender, SmtpSender, make_sender
from mailbeacon.store import messages
from mailbeacon.store.schema import copies, events
from mailbeacon.store.schema import messages as messages_table
from mailbeacon.workers.leases import LEASE
from mailbeacon.workers.outbound import deliver_due
from tests.support.server import free_port
from tests.support.smtp_server import (
    Certificates,
    UpstreamServer,
    make_certificates,
    upstream_server,
)
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import deliver

pytestmark = pytest.mark.anyio

HTML = (
    "<html><body><p>Hi</p>"
    '<a href="https://shop.example/a">First</a>'
    '<a href="https://shop.example/b">Second</a>'
    "</body></html>"
)
TOKEN_URL = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("certificates")))


@pytest.fixture
def services(make_services: Callable[..., Services], database_url: str) -> Services:
    return make_services(database_url, outbound_concurrency="3")


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return new_tenant(services.db, services.clock)


@pytest.fixture
def server() -> Iterator[UpstreamServer]:
    with upstream_server() as running:
        yield running


def queue(services: Services, tenant: Tenant, **fields: Any) -> Accepted:
    """Accept a message as POST /v1/send does (same parsing and pipeline, without HTTP)."""
    body = {"from": "Shop <shop@shop.example>", "to": ["ann@example.org"], "subject": "Hi"}
    body |= {"html": HTML, **fields}
    now = services.clock.now()
    intake = intake_from_submission(from_lettermint(body), "lettermint", now)
    return accept(services.db, services.instrumenter, tenant.project, intake, now)


async def drain(services: Services, sender: Sender) -> int:
    """Passes until nothing is due; how many copies were attempted."""
    total = 0
    while done := await deliver(services, sender):
        total += done
    return total


def copy_rows(services: Services, message_id: int) -> list[Row[Any]]:
    with services.db.read() as conn:
        query = select(copies).where(copies.c.message_id == message_id).order_by(copies.c.id)
        return list(conn.execute(query))


def status_of(services: Services, message_id: int) -> str:
    with services.db.read() as conn:
        query = select(messages_table.c.status).where(messages_table.c.id == message_id)
        return str(conn.execute(query).scalar_one())


def events_of(services: Services, kind: str) -> list[Row[Any]]:
    with services.db.read() as conn:
        query = select(events).where(events.c.type == kind).order_by(events.c.id)
        return list(conn.execute(query))


# --- 1. one transaction per recipient ---------------------------------------------------------


async def test_every_recipient_gets_its_own_transaction_with_its_own_copy(
    running: Callable[..., Any], database_url: str, server: UpstreamServer
) -> None:
    with running(database_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        body = {
            "from": "Shop <shop@shop.example>",
            "to": ["ann@example.org"],
            "cc": ["cid@example.org"],
            "bcc": ["bea@example.org"],
            "subject": "Hi",
            "html": HTML,
        }
        answer = httpx.post(
            f"{base}/v1/send", json=body, headers={"x-lettermint-token": tenant.sending_token}
        )
        assert answer.status_code == 202, answer.text
        sender = SmtpSender(server.upstream())
        assert await drain(services, sender) == 3
        await sender.aclose()
        with services.db.read() as conn:
            stored = {row.recipient: row for row in conn.execute(select(copies))}

    deliveries = server.recorder.deliveries
    assert sorted(d.rcpt_tos[0] for d in deliveries) == sorted(stored)
    for delivery in deliveries:
        (recipient,) = delivery.rcpt_tos
        copy = stored[recipient]
        assert delivery.mail_from == "shop@shop.example"
        assert delivery.content == copy.raw
        message = email.message_from_bytes(delivery.content, policy=policy.default)
        assert message["To"] == "ann@example.org"
        assert message["Cc"] == "cid@example.org"
        assert message["Bcc"] is None
        assert b"bea@example.org" not in delivery.content
        html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        tokens = TOKEN_URL.findall(html)
        assert {kind for kind, _ in tokens} == {"o", "c"}
        for kind, token in tokens:
            purposes = [Purpose.OPEN] if kind == "o" else [Purpose.CLICK, Purpose.HONEYPOT]
            found = [services.codec.check(p, token) for p in purposes]
            (claims,) = [f for f in found if f is not None]
            assert claims[0] == copy.id
    assert len(server.recorder.delivered_to("bea@example.org")) == 1


# --- 2. accepted: delivered ------------------------------------------------------------------


async def test_an_accepted_copy_is_delivered_with_its_event(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    accepted = queue(services, tenant, cc=["cid@example.org"])
    sender = SmtpSender(server.upstream())
    assert status_of(services, accepted.message_id) == "queued"

    assert await deliver(services, sender, limit=1) == 1
    assert [c.status for c in copy_rows(services, accepted.message_id)] == ["delivered", "queued"]
    assert status_of(services, accepted.message_id) == "processed"

    assert await deliver(services, sender, limit=1) == 1
    await sender.aclose()
    rows = copy_rows(services, accepted.message_id)
    assert [c.status for c in rows] == ["delivered", "delivered"]
    assert all(c.delivered_at == services.clock.now() and c.attempts == 1 for c in rows)
    assert status_of(services, accepted.message_id) == "delivered"
    sent = events_of(services, "message.sent")
    assert [(e.recipient, e.copy_id) for e in sent] == [(c.recipient, c.id) for c in rows]
    assert sent[0].data["upstream"] == "smtp"
    assert sent[0].data["response"].startswith("250 ")


async def test_a_copy_being_sent_marks_its_message_processed(
    services: Services, tenant: Tenant
) -> None:
    accepted = queue(services, tenant)
    seen: list[str] = []

    class Watching:
        name = "watching"

        async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
            seen.append(await asyncio.to_thread(status_of, services, accepted.message_id))
            return Result(Outcome.DELIVERED, "250 ok")

        async def aclose(self) -> None:
            pass

    await deliver(services, Watching())
    assert seen == ["processed"]
    assert status_of(services, accepted.message_id) == "delivered"


# --- 3. temporary and permanent failures -----------------------------------------------------


async def test_a_4xx_reply_requeues_the_copy_until_its_delay_has_passed(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)
    server.recorder.reply_to_rcpt("ann@example.org", "451 4.3.0 try again later")
    sender = SmtpSender(server.upstream())

    assert await deliver(services, sender) == 1
    (copy,) = copy_rows(services, accepted.message_id)
    assert copy.status == "queued"
    assert copy.attempts == 1
    assert copy.last_error == "451 4.3.0 try again later"
    assert copy.next_attempt_at == clock.now() + OUTBOUND_SCHEDULE[0]
    assert events_of(services, "message.sent") == events_of(services, "message.failed") == []

    clock.advance(seconds=OUTBOUND_SCHEDULE[0].total_seconds() - 1)
    assert await deliver(services, sender) == 0
    assert server.recorder.deliveries == []
    clock.advance(seconds=1)
    assert await deliver(services, sender) == 1
    await sender.aclose()
    (copy,) = copy_rows(services, accepted.message_id)
    assert (copy.status, copy.attempts, copy.last_error) == ("delivered", 2, None)
    assert len(server.recorder.deliveries) == 1
    assert status_of(services, accepted.message_id) == "delivered"


async def test_a_refused_connection_is_retried_later(services: Services, tenant: Tenant) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)
    port = free_port()  # nothing listens there yet
    sender = SmtpSender(Upstream(capture=False, host="127.0.0.1", port=port, tls="none"))

    assert await deliver(services, sender) == 1
    (copy,) = copy_rows(services, accepted.message_id)
    assert copy.status == "queued"
    assert "SMTPConnectError" in copy.last_error
    assert copy.next_attempt_at == clock.now() + OUTBOUND_SCHEDULE[0]

    with upstream_server(port=port) as server:
        assert await deliver(services, sender) == 0  # not due yet
        clock.advance(seconds=OUTBOUND_SCHEDULE[0].total_seconds())
        assert await deliver(services, sender) == 1
        await sender.aclose()
    assert len(server.recorder.delivered_to("ann@example.org")) == 1
    assert copy_rows(services, accepted.message_id)[0].status == "delivered"


async def test_when_the_schedule_runs_out_the_copy_fails(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)
    reply = "452 4.2.2 mailbox full"
    server.recorder.reply_to_rcpt("ann@example.org", *[reply] * (len(OUTBOUND_SCHEDULE) + 1))
    sender = SmtpSender(server.upstream())

    for attempt, delay in enumerate(OUTBOUND_SCHEDULE, start=1):
        assert await deliver(services, sender) == 1
        (copy,) = copy_rows(services, accepted.message_id)
        assert (copy.status, copy.attempts) == ("queued", attempt)
        assert copy.next_attempt_at == clock.now() + delay
        clock.advance(seconds=delay.total_seconds())
    assert await deliver(services, sender) == 1
    await sender.aclose()

    (copy,) = copy_rows(services, accepted.message_id)
    assert (copy.status, copy.attempts, copy.last_error) == ("failed", 10, reply)
    assert status_of(services, accepted.message_id) == "failed"
    (failed,) = events_of(services, "message.failed")
    assert failed.recipient == "ann@example.org"
    assert failed.data == {"reason": reply, "attempts": 10, "permanent": False}
    assert len(server.recorder.refused) == len(OUTBOUND_SCHEDULE) + 1
    assert await deliver(services, sender) == 0


async def test_a_5xx_reply_fails_the_copy_at_once(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    accepted = queue(services, tenant, cc=["cid@example.org"])
    server.recorder.reply_to_rcpt("cid@example.org", "550 5.1.1 no such user")
    sender = SmtpSender(server.upstream())
    assert await drain(services, sender) == 2
    await sender.aclose()

    rows = {c.recipient: c for c in copy_rows(services, accepted.message_id)}
    assert rows["ann@example.org"].status == "delivered"
    assert rows["cid@example.org"].status == "failed"
    assert rows["cid@example.org"].attempts == 1
    assert rows["cid@example.org"].next_attempt_at is None
    assert status_of(services, accepted.message_id) == "failed"
    (failed,) = events_of(services, "message.failed")
    assert failed.recipient == "cid@example.org"
    assert failed.data == {"reason": "550 5.1.1 no such user", "attempts": 1, "permanent": True}
    (sent,) = events_of(services, "message.sent")
    assert sent.recipient == "ann@example.org"


# --- 4. capture -------------------------------------------------------------------------------


async def test_capture_mode_keeps_everything_on_this_machine(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    assert services.settings.upstream.capture  # the default upstream
    accepted = queue(services, tenant, bcc=["bea@example.org"])
    sender = make_sender(services.settings.upstream)
    assert isinstance(sender, Capture)
    assert await drain(services, sender) == 2
    assert [c.status for c in copy_rows(services, accepted.message_id)] == ["captured"] * 2
    assert status_of(services, accepted.message_id) == "captured"
    sent = events_of(services, "message.sent")
    assert [e.data["upstream"] for e in sent] == ["capture", "capture"]
    assert server.recorder.connections == 0


# --- 5. TLS and authentication ---------------------------------------------------------------


async def test_delivery_over_starttls_with_auth_and_a_private_ca(
    services: Services, tenant: Tenant, certificates: Certificates
) -> None:
    credentials = ("mailer", "s3cret-pa55")
    accepted = queue(services, tenant, to=["ann@example.org", "bob@example.org"])
    with upstream_server("starttls", certificates=certificates, credentials=credentials) as server:
        upstream = server.upstream(username="mailer", password="s3cret-pa55")
        sender = make_sender(upstream, tls_context=certificates.client_context())
        assert await drain(services, sender) == 2
        await sender.aclose()
    assert all(d.tls and d.login == "mailer" for d in server.recorder.deliveries)
    assert status_of(services, accepted.message_id) == "delivered"


async def test_a_wrong_password_defers_instead_of_failing(
    services: Services, tenant: Tenant, certificates: Certificates
) -> None:
    accepted = queue(services, tenant)
    with upstream_server(
        "smtps", certificates=certificates, credentials=("mailer", "r1ght")
    ) as server:
        upstream = server.upstream(username="mailer", password="wrong")
        sender = SmtpSender(upstream, tls_context=certificates.client_context())
        assert await deliver(services, sender) == 1
    (copy,) = copy_rows(services, accepted.message_id)
    assert copy.status == "queued"
    assert copy.last_error.startswith("535 ")
    assert events_of(services, "message.failed") == []
    assert server.recorder.deliveries == []


# --- 6. leases --------------------------------------------------------------------------------


async def test_an_expired_lease_makes_the_copy_due_again_and_it_is_sent_once(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    """A worker claimed the copy and died mid-send."""
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)
    lease = LEASE
    with services.db.write() as conn:
        (claimed,) = messages.claim_due(
            conn, clock.now(), clock.now() + lease, 6, skip_locked=not services.db.is_sqlite
        )
    assert claimed.copy_id == accepted.copy_ids[0]
    sender = SmtpSender(server.upstream())

    clock.advance(seconds=lease.total_seconds() - 1)
    assert await deliver(services, sender) == 0  # the lease still holds
    clock.advance(seconds=2)
    assert await deliver(services, sender) == 1
    assert await deliver(services, sender) == 0
    await sender.aclose()
    assert len(server.recorder.deliveries) == 1
    (copy,) = copy_rows(services, accepted.message_id)
    # two attempts: the one that died with its worker counts (claims count as attempts)
    assert (copy.status, copy.attempts, copy.lease_until) == ("delivered", 2, None)


class _Held:
    """A sender whose every send waits until the test lets it go (a slow upstream)."""

    name = "held"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go = asyncio.Event()
        self.sent = 0

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        self.started.set()
        await self.go.wait()
        self.sent += 1
        return Result(Outcome.CAPTURED)

    async def aclose(self) -> None:
        return None


async def test_a_lease_is_short_and_renewed_while_the_send_runs(
    services: Services, tenant: Tenant
) -> None:
    """A live worker keeps its copy past the first lease; a dead one would have lost it
    after a minute (the test above)."""
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)
    assert timedelta(minutes=1) == LEASE
    slow = _Held()
    passing = asyncio.ensure_future(
        deliver_due(services.db, clock, slow, concurrency=1, renew_every=0.05)
    )
    await asyncio.wait_for(slow.started.wait(), 10)
    clock.advance(seconds=50)  # the send has run 50 s: the next renewal moves the lease
    for _ in range(200):
        (copy,) = copy_rows(services, accepted.message_id)
        if copy.lease_until == clock.now() + LEASE:
            break
        await asyncio.sleep(0.02)
    assert copy.lease_until == clock.now() + LEASE
    clock.advance(seconds=30)  # past the first lease, within the renewed one
    other = _Held()
    assert await deliver_due(services.db, clock, other, concurrency=1) == 0
    slow.go.set()
    assert await passing == 1
    (copy,) = copy_rows(services, accepted.message_id)
    assert (copy.status, copy.lease_until, slow.sent, other.sent) == ("captured", None, 1, 0)


# --- 7 and 8. concurrency, connection reuse ---------------------------------------------------


async def test_concurrency_is_bounded_by_the_setting(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    assert services.settings.outbound_concurrency == 3
    recipients = [f"r{i}@example.org" for i in range(9)]
    queue(services, tenant, to=recipients)
    server.recorder.hold_data_until(3)  # DATA waits until 3 sessions were open at once
    sender = SmtpSender(server.upstream(), max_connections=10)
    assert await drain(services, sender) == 9
    await sender.aclose()
    assert server.recorder.peak == 3
    assert sorted(d.rcpt_tos[0] for d in server.recorder.deliveries) == sorted(recipients)


async def test_the_worker_sender_reuses_sessions_across_copies(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    recipients = [f"r{i}@example.org" for i in range(12)]
    queue(services, tenant, to=recipients[:6])
    queue(services, tenant, to=recipients[6:])
    sender = make_sender(server.upstream(), max_connections=2)
    assert await drain(services, sender) == 12
    await sender.aclose()
    assert len(server.recorder.deliveries) == 12
    assert server.recorder.connections <= 2
    assert server.recorder.peak <= 2


# --- several workers sharing the queue --------------------------------------------------------


async def test_two_claimers_never_get_the_same_copy(services: Services, tenant: Tenant) -> None:
    """On PostgreSQL the second claim runs while the first transaction still holds its rows:
    SKIP LOCKED passes them by. SQLite serialises writers, so the claims come one after the
    other and the first one's lease keeps the second off."""
    accepted = queue(services, tenant, to=[f"r{i}@example.org" for i in range(6)])
    now = services.clock.now()
    lease = now + timedelta(minutes=5)
    db = services.db
    if db.is_sqlite:
        with db.write() as conn:
            first = messages.claim_due(conn, now, lease, 4, skip_locked=False)
        with db.write() as conn:
            second = messages.claim_due(conn, now, lease, 10, skip_locked=False)
    else:
        with db.engine.connect() as one, db.engine.connect() as two, one.begin():
            first = messages.claim_due(one, now, lease, 4, skip_locked=True)
            with two.begin():
                two.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                second = messages.claim_due(two, now, lease, 10, skip_locked=True)
    first_ids = {item.copy_id for item in first}
    second_ids = {item.copy_id for item in second}
    assert len(first_ids) == 4
    assert first_ids.isdisjoint(second_ids)
    assert first_ids | second_ids == set(accepted.copy_ids)


async def test_workers_passing_at_once_send_each_copy_exactly_once(
    make_services: Callable[..., Services],
    database_url: str,
    services: Services,
    tenant: Tenant,
    server: UpstreamServer,
) -> None:
    other = make_services(database_url, outbound_concurrency="3")  # another worker process
    recipients = [f"r{i}@example.org" for i in range(20)]
    for start in range(0, 20, 4):
        queue(services, tenant, to=recipients[start : start + 4])
    one, two = SmtpSender(server.upstream()), SmtpSender(server.upstream())

    async def work(worker: Services, sender: Sender) -> int:
        total = await drain(worker, sender)
        await sender.aclose()
        return total

    counts = await asyncio.gather(work(services, one), work(other, two))
    assert sum(counts) == 20
    delivered = sorted(d.rcpt_tos[0] for d in server.recorder.deliveries)
    assert delivered == sorted(recipients)


# --- races between workers -------------------------------------------------------------------


async def test_a_deferred_copy_keeps_its_message_processed(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    accepted = queue(services, tenant)
    server.recorder.reply_to_rcpt("ann@example.org", "451 4.3.0 try again later")
    sender = SmtpSender(server.upstream())
    await deliver(services, sender)
    await sender.aclose()
    assert status_of(services, accepted.message_id) == "processed"


async def test_concurrent_outcomes_of_one_message_settle_its_status(
    request: pytest.FixtureRequest, services: Services, tenant: Tenant
) -> None:
    """Two copies of one message recorded by two transactions at once (two workers, or one
    worker's recording threads on PostgreSQL)."""
    accepted = queue(services, tenant, cc=["cid@example.org"])
    now = services.clock.now()
    db = services.db
    with db.write() as conn:  # both copies out, the message processed: as a claim leaves them
        messages.claim_due(conn, now, now + timedelta(minutes=5), 2, skip_locked=False)
        messages.refresh_message_status(conn, accepted.message_id, now)

    def record(copy_id: int) -> None:
        with db.write() as conn:
            messages.finish_copy(conn, copy_id, now, status="delivered")
            messages.refresh_message_status(conn, accepted.message_id, now)

    first, second = accepted.copy_ids
    if db.is_sqlite:
        record(first)
        record(second)
    else:
        with ThreadPoolExecutor(1) as pool, db.write() as conn:
            messages.finish_copy(conn, first, now, status="delivered")
            messages.refresh_message_status(conn, accepted.message_id, now)
            other = pool.submit(record, second)  # while the first transaction is open
            wait([other], timeout=2)  # done at once, unless it waits for the first's lock
        other.result()
    assert status_of(services, accepted.message_id) == "delivered"


async def test_a_worker_that_lost_its_lease_does_not_undo_a_delivery(
    services: Services, tenant: Tenant, server: UpstreamServer
) -> None:
    clock: FixedClock = services.clock  # type: ignore[assignment]
    accepted = queue(services, tenant)

    class Stalled:
        """A worker stuck in its send (a paused VM, a long GC) past its lease."""

        name = "stalled"

        def __init__(self) -> None:
            self.entered = asyncio.Event()
            self.release = asyncio.Event()

        async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
            self.entered.set()
            await self.release.wait()
            return Result(Outcome.TEMPORARY, "421 4.4.2 timeout")

        async def aclose(self) -> None:
            pass

    stalled = Stalled()
    first = asyncio.create_task(deliver(services, stalled))
    await stalled.entered.wait()
    clock.advance(minutes=30)
    sender = SmtpSender(server.upstream())
    assert await deliver(services, sender) == 1  # another worker takes the copy over
    stalled.release.set()
    await first
    await sender.aclose()
    (copy,) = copy_rows(services, accepted.message_id)
    assert copy.status == "delivered"
