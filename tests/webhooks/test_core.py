"""The pure part of webhooks: names, payloads, signatures, the schedule, the address rule."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import lettermint
import pytest
import standardwebhooks

from mailbeacon.core.errors import UnknownEvents
from mailbeacon.core.events import Event
from mailbeacon.core.webhooks.addresses import parse_address, refusal
from mailbeacon.core.webhooks.delivery import (
    WEBHOOK_SCHEDULE,
    Reply,
    decide,
    delivery_headers,
    retry_after,
)
from mailbeacon.core.webhooks.payloads import (
    MessageFacts,
    encode,
    event_names,
    machine_only,
    normalise_events,
    payload,
    webhook_test_payload,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
AT = datetime(2026, 11, 23, 12, 0, 6, tzinfo=UTC)
MESSAGE = MessageFacts(
    public_id="6f1c2f0e-1c1e-4a55-9a0e-0f0f0f0f0f0f",
    subject="Your order",
    metadata={"order": "42"},
    tag="receipts",
    from_email="shop@shop.example",
    from_name="Shop",
    recipients=(("Ann@Example.org", "to"), ("bob@example.org", "cc")),
    track_opens=True,
    track_clicks=True,
    transactional=True,
    created_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def fact(type: str, at: datetime, **fields: Any) -> Event:
    """An event as a payload sees it (its ids never show in a body)."""
    return Event("e-1", 1, 1, type, at, **fields)


CLICK = fact(
    type="message.clicked",
    at=AT,
    recipient="Ann@Example.org",
    link_index=0,
    url="https://shop.example/a",
    anchor_text="First",
    first=True,
    classification="genuine",
    probability=3,
    reason_codes=(),
    machine=False,
    counts_for_metrics=True,
    device_type="desktop",
    client_type="browser",
    client_name="Chrome",
    user_agent=CHROME,
)
IP = "203.0.113.0"  # the click's address, as privacy settings kept it


def signed(body: bytes, *, at: int | None = None) -> dict[str, str]:
    return delivery_headers(
        secret=SECRET,
        delivery_id="d-1",
        event="message.clicked",
        attempt=2,
        timestamp=at if at is not None else int(time.time()),
        body=body,
    )


# --- signatures -------------------------------------------------------------------------------


def test_both_official_verifiers_accept_the_signatures() -> None:
    body = encode({"id": "d-1", "event": "message.clicked", "data": {"subject": "Grüße"}})
    headers = signed(body)
    assert lettermint.Webhook(SECRET).verify(body, headers)["data"] == {"subject": "Grüße"}
    assert standardwebhooks.Webhook(SECRET).verify(body, headers)["id"] == "d-1"
    assert headers["X-Lettermint-Delivery"] == headers["webhook-timestamp"]
    assert headers["X-Lettermint-Attempt"] == "2"
    assert headers["webhook-id"] == "d-1"


def test_the_standard_signature_is_the_reference_implementations() -> None:
    body = b'{"a":1}'
    moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    expected = standardwebhooks.Webhook(SECRET).sign("d-1", moment, body.decode())
    assert signed(body, at=int(moment.timestamp()))["webhook-signature"] == expected


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body + b" ", headers),
        lambda body, headers: (body, {**headers, "webhook-id": "d-2"}),
        lambda body, headers: (body.replace(b"1", b"2"), headers),
    ],
)
def test_a_changed_body_or_id_fails_verification(tamper: object) -> None:
    body, headers = b'{"id":"d-1","event":"message.clicked","data":{"n":1}}', signed(b"x")
    headers = signed(body)
    changed_body, changed_headers = tamper(body, headers)  # type: ignore[operator]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(changed_body, changed_headers)
    if changed_body != body:
        with pytest.raises(lettermint.WebhookVerificationError):
            lettermint.Webhook(SECRET).verify(changed_body, changed_headers)


def test_another_secret_fails_verification() -> None:
    body = b'{"event":"x","data":{}}'
    headers = signed(body)
    other = "whsec_" + "A" * 43 + "="
    with pytest.raises(lettermint.WebhookVerificationError):
        lettermint.Webhook(other).verify(body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(body, headers)


def test_basic_auth_is_an_authorization_header() -> None:
    headers = delivery_headers(
        secret=SECRET,
        delivery_id="d",
        event="engagement.click",
        attempt=1,
        timestamp=1,
        body=b"[]",
        basic_auth=("hook", "s3cr3t:x"),
    )
    assert headers["Authorization"] == "Basic aG9vazpzM2NyM3Q6eA=="


# --- names ------------------------------------------------------------------------------------


def test_lettr_subscriptions_accept_canonical_short_and_legacy_names() -> None:
    given = ["click", "engagament.open", "engagement.click", "message.delivery", "bounce"]
    assert normalise_events("lettr", given) == [
        "engagement.click",
        "engagement.open",
        "message.delivery",
        "message.bounce",
    ]
    assert normalise_events("lettr", ["message.clicked", "initial_open"]) == [
        "engagement.click",
        "engagement.initial_open",
    ]


def test_unknown_names_are_refused_by_name() -> None:
    with pytest.raises(UnknownEvents) as refused:
        normalise_events("lettermint", ["message.clicked", "engagement.click", "nope"])
    assert refused.value.names == ["engagement.click", "nope"]
    with pytest.raises(UnknownEvents):
        normalise_events("lettr", ["engagament.nothing"])


@pytest.mark.parametrize(
    ("format", "event", "names"),
    [
        ("lettermint", fact("message.created", AT), ("message.created",)),
        (
            "lettermint",
            fact("message.sent", AT, data={"upstream": "smtp"}),
            ("message.sent", "message.delivered"),
        ),
        (
            "lettermint",
            fact("message.sent", AT, data={"upstream": "capture"}),
            ("message.sent",),
        ),
        ("lettermint", fact("message.failed", AT), ("message.failed",)),
        ("lettermint", CLICK, ("message.clicked",)),
        ("lettr", fact("message.created", AT), ("message.injection",)),
        (
            "lettr",
            fact("message.sent", AT, data={"upstream": "capture"}),
            ("message.delivery",),
        ),
        ("lettr", fact("message.failed", AT), ("message.bounce",)),
        (
            "lettr",
            fact("message.opened", AT, first=True),
            ("engagement.open", "engagement.initial_open"),
        ),
        ("lettr", fact("message.opened", AT, first=False), ("engagement.open",)),
        ("lettr", CLICK, ("engagement.click",)),
        ("lettermint", fact("message.hard_bounced", AT), ("message.hard_bounced",)),
        ("lettermint", fact("message.soft_bounced", AT), ("message.soft_bounced",)),
        ("lettermint", fact("message.suppressed", AT), ("message.suppressed",)),
        ("lettermint", fact("message.unsubscribed", AT), ("message.unsubscribed",)),
        # in band, Lettr hears of a bounce as message.failed's message.bounce, once
        ("lettr", fact("message.hard_bounced", AT, data={"out_of_band": False}), ()),
        (
            "lettr",
            fact("message.hard_bounced", AT, data={"out_of_band": True}),
            ("message.out_of_band",),
        ),
        ("lettr", fact("message.suppressed", AT), ("message.policy_rejection",)),
        ("lettr", fact("message.unsubscribed", AT), ("unsubscribe.list_unsubscribe",)),
    ],
)
def test_what_each_event_is_called(format: str, event: Event, names: tuple[str, ...]) -> None:
    assert event_names(format, event) == names


def test_machine_engagement_is_only_for_those_who_ask() -> None:
    assert not machine_only(CLICK)
    scanner = fact("message.clicked", AT, machine=True, counts_for_metrics=False)
    assert machine_only(scanner)
    assert not machine_only(fact("message.sent", AT))


# --- payloads ---------------------------------------------------------------------------------


def test_a_lettermint_click_payload() -> None:
    assert payload("lettermint", "message.clicked", "d-1", CLICK, MESSAGE) == {
        "id": "d-1",
        "event": "message.clicked",
        "timestamp": "2026-11-23T12:00:06.000Z",
        "data": {
            "message_id": "6f1c2f0e-1c1e-4a55-9a0e-0f0f0f0f0f0f",
            "subject": "Your order",
            "metadata": {"order": "42"},
            "tag": "receipts",
            "recipient": "Ann@Example.org",
            "clicked_at": "2026-11-23T12:00:06+00:00",
            "first_click": True,
            "destination_url": "https://shop.example/a",
            "link_index": 0,
            "anchor_text": "First",
            "device_type": "desktop",
            "client_type": "browser",
            "client_name": "Chrome",
            "user_agent": CHROME,
            "bot": {
                "detected": False,
                "probability": 3,
                "classification": "genuine",
                "proxy_type": None,
                "reason_codes": [],
                "machine": False,
                "counts_for_metrics": True,
            },
        },
    }


def test_a_lettr_click_payload_is_sparkposts_array() -> None:
    [entry] = payload("lettr", "engagement.click", "d-1", CLICK, MESSAGE, ip=IP)
    event = entry["msys"]["track_event"]
    assert event == {
        "type": "click",
        "event_id": "d-1",
        "timestamp": str(int(AT.timestamp())),
        "transmission_id": MESSAGE.public_id,
        "message_id": MESSAGE.public_id,
        "subject": "Your order",
        "friendly_from": "Shop <shop@shop.example>",
        "msg_from": "shop@shop.example",
        "sending_domain": "shop.example",
        "click_tracking": True,
        "open_tracking": True,
        "transactional": True,
        "injection_time": "2026-11-23T12:00:00.000Z",
        "rcpt_meta": {"order": "42"},
        "rcpt_tags": ["receipts"],
        "rcpt_to": "ann@example.org",
        "raw_rcpt_to": "Ann@Example.org",
        "recipient_domain": "example.org",
        "user_agent": CHROME,
        "user_agent_parsed": {
            "agent_family": "Chrome",
            "device_brand": None,
            "device_family": None,
            "os_family": "Windows",
            "os_version": "10",
            "is_mobile": False,
            "is_proxy": False,
            "is_prefetched": False,
        },
        "bot": {
            "detected": False,
            "probability": 3,
            "classification": "genuine",
            "proxy_type": None,
            "reason_codes": [],
            "machine": False,
            "counts_for_metrics": True,
            "family": None,
            "details": [],
        },
        "ip_address": "203.0.113.0",
        "target_link_url": "https://shop.example/a",
        "target_link_name": "First",
    }


def test_a_lettr_proxy_open_says_so_in_user_agent_parsed() -> None:
    mpp = fact(
        "message.opened",
        AT,
        recipient="bob@example.org",
        classification="privacy_proxy",
        machine=True,
        counts_for_metrics=False,
        user_agent="Mozilla/5.0",
    )
    [entry] = payload("lettr", "engagement.open", "d-2", mpp, MESSAGE)
    event = entry["msys"]["track_event"]
    assert (event["type"], event["initial_pixel"], event["rcpt_type"]) == ("open", True, "cc")
    assert event["user_agent_parsed"]["is_proxy"] is True
    assert event["user_agent_parsed"]["is_prefetched"] is True


def test_a_lettr_injection_has_an_entry_per_recipient() -> None:
    created = fact("message.created", MESSAGE.created_at)
    entries = payload("lettr", "message.injection", "d-3", created, MESSAGE)
    assert [e["msys"]["message_event"]["rcpt_to"] for e in entries] == [
        "ann@example.org",
        "bob@example.org",
    ]
    assert [e["msys"]["message_event"]["event_id"] for e in entries] == ["d-3:0", "d-3:1"]


def test_sent_delivered_and_failed_payloads() -> None:
    sent = fact(
        "message.sent",
        AT,
        recipient="ann@example.org",
        data={"upstream": "smtp", "response": "250 ok", "attempts": 1},
    )
    data = payload("lettermint", "message.delivered", "d", sent, MESSAGE)["data"]
    assert (data["delivered_at"], data["response"]) == ("2026-11-23T12:00:06.000Z", "250 ok")
    failed = fact(
        "message.failed",
        AT,
        recipient="ann@example.org",
        data={"reason": "550 5.1.1 no such user", "attempts": 1, "permanent": True},
    )
    data = payload("lettermint", "message.failed", "d", failed, MESSAGE)["data"]
    assert (data["reason"], data["permanent"]) == ("550 5.1.1 no such user", True)
    [bounce] = payload("lettr", "message.bounce", "d", failed, MESSAGE)
    assert bounce["msys"]["message_event"]["bounce_class"] == 1
    assert bounce["msys"]["message_event"]["error_code"] == "550"


def test_bounce_suppression_and_unsubscribe_payloads() -> None:
    bounced = fact(
        "message.hard_bounced",
        AT,
        recipient="ann@example.org",
        data={
            "response": "550 5.1.1 no such user",
            "status": "5.1.1",
            "permanent": True,
            "out_of_band": True,
        },
    )
    data = payload("lettermint", "message.hard_bounced", "d", bounced, MESSAGE)["data"]
    assert data["recipient"] == "ann@example.org"
    assert (data["response"], data["enhanced_status"]) == ("550 5.1.1 no such user", "5.1.1")
    assert (data["bounced_at"], data["out_of_band"]) == ("2026-11-23T12:00:06.000Z", True)
    [late] = payload("lettr", "message.out_of_band", "d", bounced, MESSAGE)
    assert late["msys"]["message_event"]["type"] == "out_of_band"
    assert late["msys"]["message_event"]["error_code"] == "550"
    suppressed = fact(
        "message.suppressed",
        AT,
        recipient="ann@example.org",
        data={"reason": "unsubscribe", "scope": "route", "applies_to": "broadcast"},
    )
    data = payload("lettermint", "message.suppressed", "d", suppressed, MESSAGE)["data"]
    assert (data["reason"], data["scope"], data["applies_to"]) == (
        "unsubscribe",
        "route",
        "broadcast",
    )
    [rejected] = payload("lettr", "message.policy_rejection", "d", suppressed, MESSAGE)
    assert rejected["msys"]["message_event"]["type"] == "policy_rejection"
    assert rejected["msys"]["message_event"]["bounce_class"] == 25
    left = fact(
        "message.unsubscribed", AT, recipient="ann@example.org", data={"method": "one_click"}
    )
    data = payload("lettermint", "message.unsubscribed", "d", left, MESSAGE)["data"]
    assert (data["unsubscribed_at"], data["method"]) == ("2026-11-23T12:00:06.000Z", "one_click")
    [unsubscribe] = payload("lettr", "unsubscribe.list_unsubscribe", "d", left, MESSAGE)
    assert unsubscribe["msys"]["unsubscribe_event"]["type"] == "list_unsubscribe"
    assert unsubscribe["msys"]["unsubscribe_event"]["rcpt_to"] == "ann@example.org"


def test_webhook_test_payloads() -> None:
    body = webhook_test_payload("lettermint", "d", "w", AT)
    assert (body["event"], body["data"]["webhook_id"]) == ("webhook.test", "w")
    assert webhook_test_payload("lettr", "d", "w", AT) == [{"msys": {}}]
    assert json.loads(encode(body)) == body


# --- outcomes ---------------------------------------------------------------------------------


def test_the_schedule_is_standard_webhooks() -> None:
    minutes = [d.total_seconds() / 60 for d in WEBHOOK_SCHEDULE]
    assert minutes == [5 / 60, 5, 30, 120, 300, 600, 840, 1200, 1440]


@pytest.mark.parametrize(
    ("reply", "made", "status", "retry_in", "disable"),
    [
        (Reply(200), 1, "success", None, False),
        (Reply(204), 3, "success", None, False),
        (Reply(500), 1, "server_error", timedelta(seconds=5), False),
        (Reply(500), 2, "server_error", timedelta(minutes=5), False),
        (Reply(500), 9, "server_error", timedelta(hours=24), False),
        (Reply(500), 10, "server_error", None, False),
        (Reply(404), 1, "client_error", timedelta(seconds=5), False),
        (Reply(410), 1, "client_error", None, True),
        (Reply(302, location="https://x.example"), 1, "failed", timedelta(seconds=5), False),
        (Reply(timed_out=True), 1, "timeout", timedelta(seconds=5), False),
        (Reply(error="ConnectError: refused"), 4, "failed", timedelta(hours=2), False),
        (
            Reply(429, retry_after=timedelta(minutes=2)),
            1,
            "client_error",
            timedelta(minutes=2),
            False,
        ),
        (
            Reply(503, retry_after=timedelta(seconds=1)),
            2,
            "server_error",
            timedelta(minutes=5),
            False,
        ),
        (Reply(503, retry_after=timedelta(days=9)), 1, "server_error", timedelta(hours=24), False),
        (
            Reply(500, retry_after=timedelta(minutes=2)),
            1,
            "server_error",
            timedelta(seconds=5),
            False,
        ),
    ],
)
def test_what_an_attempt_means(
    reply: Reply, made: int, status: str, retry_in: timedelta | None, disable: bool
) -> None:
    decision = decide(reply, made)
    assert (decision.status, decision.retry_in, decision.disable) == (status, retry_in, disable)


def test_a_redirect_is_reported_with_its_target() -> None:
    error = decide(Reply(301, location="https://elsewhere.example/hook"), 1).error
    assert error == "Redirects are not followed: 301 to https://elsewhere.example/hook."


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == timedelta(seconds=120)
    assert retry_after("Mon, 23 Nov 2026 12:01:30 GMT", now) == timedelta(seconds=90)
    assert retry_after("Mon, 23 Nov 2026 11:00:00 GMT", now) == timedelta(0)
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("[::ffff:127.0.0.1]", "a loopback address"),
        ("64:ff9b::7f00:1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.251", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_which_addresses_webhooks_may_not_reach(address: str, reason: str | None) -> None:
    parsed = parse_address(address)
    assert parsed is not None
    assert refusal(parsed) == reason


def test_a_name_is_not_an_address() -> None:
    assert parse_address("hooks.example.com") is None
