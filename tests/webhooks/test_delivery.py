"""Deliveries end to end: events to a real receiver, signed, retried on the fixed clock,
logged; the behaviour of the issue's list, one test each."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import lettermint
import pytest
import standardwebhooks
from sqlalchemy import select

from mailbeacon.app import build_dispatcher
from mailbeacon.core.events import Event
from mailbeacon.core.webhooks.delivery import WEBHOOK_SCHEDULE, Reply, decide
from mailbeacon.service import events as recorded
from mailbeacon.service.webhook_guard import AddressGuard
from mailbeacon.store import webhook_deliveries as outbox
from mailbeacon.store import webhooks
from mailbeacon.store.ids import new_id
from mailbeacon.store.schema import messages, webhook_deliveries
from mailbeacon.workers.dispatcher import Dispatcher, dispatcher_worker
from mailbeacon.workers.leases import LEASE
from tests.support.receiver import Answer, Received
from tests.webhooks.conftest import Site

pytestmark = pytest.mark.anyio


def verified(request: Received, secret: str) -> Any:
    """The body, after both official verifiers accepted the request's signatures.

    The Lettermint SDK takes only JSON objects (Lettermint's payloads); for Lettr's arrays it
    still checks the signature first, and then refuses the array as ``payload_invalid``: that
    reason means the signature matched."""
    by_standard = standardwebhooks.Webhook(secret).verify(request.body, dict(request.headers))
    if isinstance(by_standard, list):
        with pytest.raises(lettermint.WebhookVerificationError) as refused:
            lettermint.Webhook(secret).verify(request.body, request.headers)
        assert refused.value.reason == "payload_invalid"
        return by_standard
    by_lettermint = lettermint.Webhook(secret).verify(request.body, request.headers)
    assert by_lettermint == by_standard
    return by_lettermint


def log(site: Site, hook: dict[str, Any]) -> list[dict[str, Any]]:
    return list(site.lm.webhooks.deliveries.iterate(hook["id"]))  # type: ignore[arg-type]


async def test_a_click_makes_one_signed_message_clicked_delivery(any_site: Site) -> None:
    site = any_site
    hook = site.create()
    message_id = site.send()
    site.click(message_id)
    site.promote()
    assert await site.deliver() == 1
    [request] = site.receiver.requests
    body = verified(request, hook["secret"])
    assert request.path == "/hook"
    assert body["event"] == "message.clicked"
    data = body["data"]
    assert (data["message_id"], data["recipient"], data["subject"]) == (
        message_id,
        "ann@example.org",
        "Your order",
    )
    assert (data["metadata"], data["tag"]) == ({"order": "42"}, "receipts")
    assert (data["destination_url"], data["link_index"], data["anchor_text"]) == (
        "https://shop.example/a",
        0,
        "First",
    )
    assert (data["first_click"], data["client_name"], data["bot"]["machine"]) == (
        True,
        "Chrome",
        False,
    )
    assert request.header("x-lettermint-event") == "message.clicked"
    assert request.header("x-lettermint-attempt") == "1"
    assert request.header("webhook-id") == body["id"]
    assert request.header("content-type") == "application/json"
    assert (request.header("user-agent") or "").startswith("mailbeacon-webhooks")
    assert request.header("accept-encoding") == "identity"  # the log keeps bytes as received
    [logged] = log(site, hook)
    assert logged["id"] == body["id"]
    assert (logged["status"], logged["http_status_code"], logged["attempt_number"]) == (
        "success",
        200,
        1,
    )
    assert logged["delivered_at"] is not None
    assert logged["next_retry_at"] is None
    assert logged["source_project_id"] == site.tenant.project.public_id
    assert await site.deliver() == 0  # nothing more: one event, one delivery


async def test_a_machine_click_reaches_only_the_webhook_with_machine_events(site: Site) -> None:
    people = site.create("/people")
    machines = site.create("/machines", include_machine_events=True)
    message_id = site.send()
    site.click(message_id)
    site.clock.advance(minutes=3)  # the machines come later (within the verifiers' 5 minutes)
    site.click(message_id, 2, **{"user-agent": "curl/8.5.0"})
    site.click(message_id, 0, **{"user-agent": "LinkChecker/1.0"})  # the honeypot
    site.promote()
    assert await site.deliver() == 4
    got = {"/people": [], "/machines": []}  # type: dict[str, list[dict[str, Any]]]
    for request in site.receiver.requests:
        secret = people["secret"] if request.path == "/people" else machines["secret"]
        got[request.path].append(verified(request, secret)["data"])
    assert [d["bot"]["machine"] for d in got["/people"]] == [False]
    machine = sorted(d["bot"]["machine"] for d in got["/machines"])
    assert machine == [False, True, True]
    trap = next(d for d in got["/machines"] if d.get("honeypot"))
    assert (trap["bot"]["counts_for_metrics"], trap["link_index"]) == (False, None)


async def test_a_500_then_200_is_retried_with_both_attempts_logged(any_site: Site) -> None:
    site = any_site
    hook = site.create(events=["message.created"])
    site.receiver.answer(Answer(500, body=b"database is down"))
    site.send()
    assert await site.deliver() == 1
    [first] = log(site, hook)
    assert (first["status"], first["http_status_code"], first["attempt_number"]) == (
        "server_error",
        500,
        1,
    )
    assert await site.deliver() == 0  # not due yet
    site.clock.advance(seconds=4)
    assert await site.deliver() == 0
    site.clock.advance(seconds=1)
    assert await site.deliver() == 1
    one, two = site.receiver.requests
    assert one.body == two.body
    assert one.header("webhook-id") == two.header("webhook-id")  # receivers deduplicate by it
    assert (one.header("x-lettermint-attempt"), two.header("x-lettermint-attempt")) == ("1", "2")
    assert verified(two, hook["secret"])["event"] == "message.created"
    detail: Any = site.lm.webhooks.deliveries.retrieve(hook["id"], first["id"])
    assert (detail["status"], detail["attempt_number"], detail["http_status_code"]) == (
        "success",
        2,
        200,
    )
    assert detail["payload"] == json.loads(two.body)
    attempts = [
        (a["attempt_number"], a["status"], a["http_status_code"]) for a in detail["attempts"]
    ]
    assert attempts == [(1, "server_error", 500), (2, "success", 200)]
    assert detail["attempts"][0]["response_body"] == "database is down"


async def test_the_retry_schedule_runs_on_the_fixed_clock(site: Site) -> None:
    hook = site.create()
    site.receiver.answer(*[503] * 10)
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    for delay in WEBHOOK_SCHEDULE:
        site.clock.advance(seconds=delay.total_seconds() - 1)
        assert await site.deliver() == 0, f"attempted before {delay} had passed"
        site.clock.advance(seconds=1)
        assert await site.deliver() == 1
    [given_up] = log(site, hook)
    assert (given_up["status"], given_up["attempt_number"], given_up["next_retry_at"]) == (
        "server_error",
        10,
        None,
    )
    site.clock.advance(days=30)
    assert await site.deliver() == 0
    assert len(site.receiver.requests) == 10


async def test_retry_after_of_a_429_is_honoured(site: Site) -> None:
    hook = site.create()
    site.receiver.answer(Answer(429, (("Retry-After", "120"),)))
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    site.clock.advance(seconds=119)
    assert await site.deliver() == 0
    site.clock.advance(seconds=1)
    assert await site.deliver() == 1
    assert [d["status"] for d in log(site, hook)] == ["success"]


async def test_410_disables_the_webhook_and_gives_up_its_queue(site: Site) -> None:
    hook = site.create(events=["message.created"])
    site.receiver.answer(410)
    site.send()
    site.send()
    assert await site.deliver(limit=1) == 1
    webhook = site.lm.webhooks.retrieve(hook["id"])
    assert webhook["enabled"] is False
    assert "410" in webhook["disabled_reason"]  # type: ignore[typeddict-item]
    statuses = sorted((d["status"], d["http_status_code"]) for d in log(site, hook))
    assert statuses == [("client_error", 410), ("failed", None)]
    assert await site.deliver() == 0
    site.send()  # nothing is queued for a disabled webhook
    assert len(log(site, hook)) == 2
    assert len(site.receiver.requests) == 1
    with pytest.raises(lettermint.ConflictError):
        site.lm.webhooks.deliveries.retry(hook["id"], log(site, hook)[0]["id"])


async def test_a_redirect_is_not_followed(site: Site) -> None:
    hook = site.create()
    elsewhere = site.hook_base + "/elsewhere"
    site.receiver.answer(Answer(302, (("Location", elsewhere),)))
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    assert [r.path for r in site.receiver.requests] == ["/hook"]
    [logged] = log(site, hook)
    detail: Any = site.lm.webhooks.deliveries.retrieve(hook["id"], logged["id"])
    assert (detail["status"], detail["http_status_code"]) == ("failed", 302)
    assert detail["error_message"] == f"Redirects are not followed: 302 to {elsewhere}."
    assert detail["next_retry_at"] is not None  # a redirect is a failure, retried


async def test_a_receivers_cookies_are_not_sent_back(site: Site) -> None:
    hook = site.create()
    site.receiver.answer(Answer(200, (("Set-Cookie", "session=abc; Path=/"),)))
    site.lm.webhooks.test(hook["id"])
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver(limit=1) == 1
    assert await site.deliver(limit=1) == 1
    assert [r.header("cookie") for r in site.receiver.requests] == [None, None]
    kept = [
        site.lm.webhooks.deliveries.retrieve(hook["id"], logged["id"])["response_headers"]  # type: ignore[typeddict-item]
        for logged in log(site, hook)
    ]
    assert sum("set-cookie: session=abc; Path=/" in headers for headers in kept) == 1


async def test_lettr_format_with_basic_auth(site: Site) -> None:
    hook = site.create(
        format="lettr",
        events=["click", "engagament.open"],
        basic_auth={"username": "hooks", "password": "pa:ss"},
    )
    assert hook["events"] == ["engagement.click", "engagement.open"]
    assert hook["has_basic_auth"] is True
    assert "basic_auth" not in hook
    message_id = site.send()
    site.open(message_id)
    site.click(message_id)
    site.promote()
    assert await site.deliver() == 2
    kinds = {}
    for request in site.receiver.requests:
        assert request.header("authorization") == "Basic aG9va3M6cGE6c3M="
        [entry] = verified(request, hook["secret"])
        [(category, event)] = entry["msys"].items()
        assert category == "track_event"
        assert request.header("x-lettermint-event") == f"engagement.{event['type']}"
        kinds[event["type"]] = event
    assert sorted(kinds) == ["click", "open"]
    click = kinds["click"]
    assert (click["rcpt_to"], click["target_link_url"], click["transmission_id"]) == (
        "ann@example.org",
        "https://shop.example/a",
        message_id,
    )
    assert (click["rcpt_meta"], click["rcpt_tags"]) == ({"order": "42"}, ["receipts"])
    assert click["user_agent_parsed"]["is_proxy"] is False
    assert kinds["open"]["initial_pixel"] is True
    site.lm.webhooks.update(hook["id"], {"basic_auth": None})
    assert site.lm.webhooks.retrieve(hook["id"])["has_basic_auth"] is False
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    test = site.receiver.requests[-1]
    assert test.header("authorization") is None
    assert json.loads(test.body) == [{"msys": {}}]


async def test_message_created_carries_the_message(site: Site) -> None:
    hook = site.create(events=["message.created"])
    message_id = site.send(to=["ann@example.org", "bob@example.org"])
    assert await site.deliver() == 1
    data = verified(site.receiver.requests[0], hook["secret"])["data"]
    assert data["message_id"] == message_id
    assert data["recipients"] == ["ann@example.org", "bob@example.org"]
    assert (data["subject"], data["metadata"], data["tag"]) == (
        "Your order",
        {"order": "42"},
        "receipts",
    )


async def test_sent_delivered_and_failed_as_the_outbound_queue_records_them(
    any_site: Site,
) -> None:
    """service.events.record with the events workers/outbound.py writes."""
    site = any_site
    names = ["message.sent", "message.delivered", "message.failed"]
    hook = site.create(events=names)
    message_id = site.send()
    now = site.clock.now()
    with site.services.db.write() as conn:
        found = conn.execute(select(messages.c.id).where(messages.c.public_id == message_id))
        common = {"project_id": site.tenant.project.id, "message_id": found.scalar_one(), "at": now}
        made = [
            Event(
                public_id=new_id(),
                **common,
                type="message.sent",
                recipient="ann@example.org",
                data={"upstream": "smtp", "response": "250 2.0.0 queued", "attempts": 1},
            ),
            Event(
                public_id=new_id(),
                **common,
                type="message.failed",
                recipient="bob@example.org",
                data={"reason": "550 5.1.1 no such user", "attempts": 1, "permanent": True},
            ),
        ]
        for event in made:
            recorded.record(conn, [event], now)
    assert await site.deliver() == 3
    got = {
        b["event"]: b["data"] for b in (verified(r, hook["secret"]) for r in site.receiver.requests)
    }
    assert sorted(got) == sorted(names)
    assert got["message.delivered"]["response"] == "250 2.0.0 queued"
    assert got["message.failed"]["reason"] == "550 5.1.1 no such user"
    assert got["message.failed"]["recipient"] == "bob@example.org"


async def test_concurrency_per_endpoint_is_bounded_and_connections_are_reused(
    open_site: Any, sqlite_url: str
) -> None:
    async with open_site(sqlite_url, webhook_concurrency_per_endpoint="2") as site:
        hook = site.create()
        for _ in range(6):
            site.lm.webhooks.test(hook["id"])
        site.receiver.hold_until(2)
        # a claim takes no more than the endpoint's concurrency, whoever holds the rest
        assert [await site.deliver() for _ in range(4)] == [2, 2, 2, 0]
        assert site.receiver.peak == 2
        assert site.receiver.connections == 2
        site.receiver.hold_until(0)
        for _ in range(3):
            site.lm.webhooks.test(hook["id"])
        assert [await site.deliver() for _ in range(3)] == [2, 1, 0]
        assert site.receiver.connections == 2  # the same two, kept alive between passes


async def test_a_failing_endpoint_waits_without_holding_up_others(
    open_site: Any, sqlite_url: str
) -> None:
    async with open_site(sqlite_url, webhook_concurrency_per_endpoint="1") as site:
        down = site.create("/down")
        up = site.create("/up")
        site.receiver.answer(*[503] * 5, path="/down")
        for _ in range(8):
            site.lm.webhooks.test(down["id"])
        site.lm.webhooks.test(up["id"])
        assert await site.deliver() == 2  # one of each endpoint: its concurrency, 1
        assert sorted(r.path for r in site.receiver.requests) == ["/down", "/up"]
        assert await site.deliver() == 0  # the other 7 wait for the failed one's retry
        site.clock.advance(seconds=5)
        assert await site.deliver() == 1


async def test_the_concurrency_per_endpoint_holds_across_dispatchers(
    open_site: Any, postgres_url: str
) -> None:
    """Four dispatchers (four processes, as far as the database can tell) on one PostgreSQL
    database, passes running at once: the endpoint never sees more than its limit."""
    async with open_site(postgres_url, webhook_concurrency_per_endpoint="2") as site:
        hook = site.create("/slow")
        site.receiver.answer(*[Answer(200, delay=0.2)] * 16, path="/slow")
        for _ in range(16):
            site.lm.webhooks.test(hook["id"])
        dispatchers = [build_dispatcher(site.services) for _ in range(4)]
        try:
            delivered = 0
            for _ in range(20):
                passes = await asyncio.gather(*(d.run_once() for d in dispatchers))
                delivered += sum(passes)
                if delivered == 16:
                    break
        finally:
            for dispatcher in dispatchers:
                await dispatcher.aclose()
        assert delivered == 16
        assert len(site.receiver.requests) == 16
        assert site.receiver.peak == 2


async def test_a_record_takes_back_only_the_slots_it_frees(
    open_site: Any, database_url: str
) -> None:
    """A record that claims replacements in its transaction (the worker's passes) counts what
    every dispatcher holds, as a claim does: with two of the endpoint's two slots leased, a
    record of one takes one more, however many it asks for, and another dispatcher none."""
    async with open_site(database_url, webhook_concurrency_per_endpoint="2") as site:
        hook = site.create()
        for _ in range(6):
            site.lm.webhooks.test(hook["id"])
        db, now = site.services.db, site.clock.now()
        lease = now + LEASE
        on_postgres = not db.is_sqlite

        def claim(limit: int) -> list[outbox.Due]:
            with db.write() as conn:
                return outbox.claim_due(
                    conn,
                    now,
                    lease,
                    limit,
                    room=lambda _: 100,
                    skip_locked=on_postgres,
                    per_webhook=2,
                )

        held = claim(10)
        assert len(held) == 2
        assert claim(10) == []  # another dispatcher: the endpoint is full
        done = outbox.Outcome(
            delivery_id=held[0].id,
            webhook_id=held[0].webhook_id,
            attempt_number=1,
            at=now,
            decision=decide(Reply(status_code=200), 1),
            http_status_code=200,
            duration_ms=3,
            response_body="ok",
            response_headers=[],
        )
        with db.write() as conn:
            more = outbox.record_and_claim(
                conn,
                [done],
                now,
                lease,
                10,
                room=lambda _: 100,
                skip_locked=on_postgres,
                per_webhook=2,
            )
        assert len(more) == 1
        assert more[0].id not in {item.id for item in held}
        assert claim(10) == []
        with db.read() as conn:
            status = conn.execute(
                select(webhook_deliveries.c.status).where(
                    webhook_deliveries.c.id == done.delivery_id
                )
            ).scalar_one()
        assert status == "success"


async def test_the_worker_refilling_its_passes_keeps_the_limit_across_dispatchers(
    open_site: Any, postgres_url: str
) -> None:
    """Four dispatcher workers (four processes, as far as the database can tell), whose passes
    claim replacements as they record: every delivery arrives once, and the endpoint never
    sees more than its limit at once."""
    async with open_site(postgres_url, webhook_concurrency_per_endpoint="2") as site:
        hook = site.create("/slow")
        site.receiver.answer(*[Answer(200, delay=0.05)] * 24, path="/slow")
        for _ in range(24):
            site.lm.webhooks.test(hook["id"])
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(dispatcher_worker(build_dispatcher(site.services), stop))
            for _ in range(4)
        ]
        try:
            async with asyncio.timeout(30):
                while len(site.receiver.requests) < 24:
                    await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert len(site.receiver.requests) == 24
        assert len({r.header("webhook-id") for r in site.receiver.requests}) == 24
        assert site.receiver.peak == 2


async def test_a_manual_retry_sends_the_same_delivery_again(site: Site) -> None:
    hook = site.create()
    queued = site.lm.webhooks.test(hook["id"])
    with pytest.raises(lettermint.ConflictError):  # still pending
        site.lm.webhooks.deliveries.retry(hook["id"], queued["delivery_id"])
    assert await site.deliver() == 1
    answer = site.lm.webhooks.deliveries.retry(hook["id"], queued["delivery_id"])
    assert answer["delivery_id"] == queued["delivery_id"]
    assert await site.deliver() == 1
    first, again = site.receiver.requests
    assert first.header("webhook-id") == again.header("webhook-id") == queued["delivery_id"]
    assert again.header("x-lettermint-attempt") == "2"
    assert verified(again, hook["secret"])["event"] == "webhook.test"


async def test_a_new_secret_signs_from_then_on(site: Site) -> None:
    hook = site.create()
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    renewed: Any = site.lm.webhooks.regenerate_secret(hook["id"])["data"]
    assert renewed["secret"].startswith("whsec_")
    assert renewed["secret"] != hook["secret"]
    site.lm.webhooks.test(hook["id"])
    assert await site.deliver() == 1
    before, after = site.receiver.requests
    assert verified(before, hook["secret"])["event"] == "webhook.test"
    assert verified(after, renewed["secret"])["event"] == "webhook.test"
    with pytest.raises(lettermint.WebhookVerificationError):
        lettermint.Webhook(hook["secret"]).verify(after.body, after.headers)


# --- the address rule -------------------------------------------------------------------------


def stored_hook(site: Site, url: str) -> webhooks.Webhook:
    """A webhook written straight to the store, with a test delivery queued: as if the API
    had checked its URL earlier (it refuses these)."""
    with site.services.db.write() as conn:
        hook = webhooks.create_webhook(
            conn,
            site.tenant.team.id,
            site.clock.now(),
            name="Guarded",
            url=url,
            format="lettermint",
            events=["message.clicked"],
            enabled=True,
            include_machine_events=False,
            scope="team",
            project_ids=[],
            route_ids=[],
            delivery_mode_filter="both",
        )
        recorded.enqueue_test(conn, hook, site.clock.now())
    return hook


async def run_once_with(site: Site, guard: AddressGuard) -> int:
    dispatcher = build_dispatcher(site.services, guard=guard)
    try:
        return await dispatcher.run_once()
    finally:
        await dispatcher.aclose()


async def test_delivery_checks_the_address_it_connects_to(site: Site) -> None:
    """DNS rebinding: the name was public when the webhook was made, and resolves to
    loopback by the time of delivery. The check happens at connection time."""
    port = site.hook_base.rsplit(":", 1)[1]
    hook = stored_hook(site, f"http://hooks.rebinding.test:{port}/hook")
    rebinding = {"hooks.rebinding.test": ["127.0.0.1"]}
    strict = AddressGuard(allow_private=False, resolve=rebinding.__getitem__)
    assert await run_once_with(site, strict) == 1
    assert site.receiver.requests == []
    [logged] = log(site, {"id": hook.public_id})
    detail: Any = site.lm.webhooks.deliveries.retrieve(hook.public_id, logged["id"])
    assert detail["status"] == "failed"
    assert "resolves to 127.0.0.1, a loopback address" in detail["error_message"]
    assert detail["next_retry_at"] is not None
    site.clock.advance(seconds=5)
    lenient = AddressGuard(allow_private=True, resolve=rebinding.__getitem__)
    assert await run_once_with(site, lenient) == 1
    [request] = site.receiver.requests  # connected to the address, named the host
    assert request.header("host") == f"hooks.rebinding.test:{port}"


@pytest.mark.parametrize(
    ("host", "shown"),
    [("127.0.0.1", "127.0.0.1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1")],  # as yarl writes it
)
async def test_delivery_refuses_a_literal_private_address(
    site: Site, host: str, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A literal address is never resolved (aiohttp asks no resolver about it), so the
    socket it is about to connect to is checked: the receiver's own address is refused at
    delivery, as a failed connection (logged, retried; not a crash), and nothing is sent."""
    port = site.hook_base.rsplit(":", 1)[1]
    hook = stored_hook(site, f"http://{host}:{port}/hook")
    assert await run_once_with(site, AddressGuard(allow_private=False)) == 1
    assert site.receiver.requests == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    [logged] = log(site, {"id": hook.public_id})
    detail: Any = site.lm.webhooks.deliveries.retrieve(hook.public_id, logged["id"])
    assert (detail["status"], detail["http_status_code"]) == ("failed", None)
    assert detail["error_message"].startswith(
        f"The webhook host {shown!r} is a loopback address: webhooks may only call public addresses"
    )
    assert "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS" in detail["error_message"]
    assert detail["next_retry_at"] is not None


async def test_an_unexpected_error_is_a_failed_attempt_retried_later(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here: a resolver that raises KeyError, no OSError) loses no delivery."""
    port = site.hook_base.rsplit(":", 1)[1]
    hook = stored_hook(site, f"http://nowhere.test:{port}/hook")
    assert await run_once_with(site, AddressGuard(resolve={}.__getitem__)) == 1
    assert site.receiver.requests == []
    assert any("failed" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    [logged] = log(site, {"id": hook.public_id})
    detail: Any = site.lm.webhooks.deliveries.retrieve(hook.public_id, logged["id"])
    assert (detail["status"], detail["error_message"]) == ("failed", "KeyError: 'nowhere.test'")
    assert detail["next_retry_at"] is not None


async def test_each_outcome_is_recorded_as_it_completes_not_after_the_pass(site: Site) -> None:
    """A fast endpoint's delivery is in the log while a slow endpoint of the same pass is still
    answering: a crash then would send again only the slow one."""
    fast = site.create("/fast")
    slow = site.create("/slow")
    site.receiver.answer(Answer(200, delay=3), path="/slow")
    site.lm.webhooks.test(slow["id"])
    site.lm.webhooks.test(fast["id"])
    passing = asyncio.ensure_future(site.deliver())
    try:
        for _ in range(100):  # until the fast one is logged, at most 2 s
            if [d["status"] for d in log(site, fast)] == ["success"]:
                break
            await asyncio.sleep(0.02)
        assert [d["status"] for d in log(site, fast)] == ["success"]
        assert not passing.done()  # the slow one is still being answered
        assert [d["status"] for d in log(site, slow)] == ["pending"]
    finally:
        assert await passing == 2
    assert [d["status"] for d in log(site, slow)] == ["success"]


async def test_a_claim_holds_a_short_lease_renewed_while_the_delivery_runs(site: Site) -> None:
    """A live dispatcher keeps a slow delivery past its first minute; a crashed one's would be
    due again after that minute, not after six."""
    hook = site.create("/slow")
    site.receiver.answer(Answer(200, delay=2), path="/slow")
    site.lm.webhooks.test(hook["id"])
    guard = AddressGuard(allow_private=True)
    dispatcher = Dispatcher(
        site.services.db, site.clock, guard, timeout=15, per_endpoint=10, renew_every=0.05
    )

    def lease() -> Any:
        with site.services.db.read() as conn:
            return conn.execute(select(webhook_deliveries.c.lease_until)).scalar_one()

    passing = asyncio.ensure_future(dispatcher.run_once())
    try:
        for _ in range(100):
            if lease() is not None:
                break
            await asyncio.sleep(0.01)
        assert lease() == site.clock.now() + LEASE
        site.clock.advance(seconds=50)
        for _ in range(100):
            if lease() == site.clock.now() + LEASE:
                break
            await asyncio.sleep(0.02)
        assert lease() == site.clock.now() + LEASE  # renewed
        site.clock.advance(seconds=30)  # past the first lease, within the renewed one
        assert await site.deliver() == 0  # another dispatcher finds nothing to take
    finally:
        assert await passing == 1
        await dispatcher.aclose()
    assert [d["status"] for d in log(site, hook)] == ["success"]
    assert lease() is None
