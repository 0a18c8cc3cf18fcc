"""Lettr's API under /api, end to end: the official lettr SDK against a real server."""

from __future__ import annotations

import asyncio
import base64
import email
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

import httpx
import lettr
import pytest
from sqlalchemy import func, select

from mailbeacon.clock import FixedClock
from mailbeacon.service.accept import body_hash
from mailbeacon.smtp.upstream import Capture, Outcome, Result
from mailbeacon.store import idempotency, tenancy
from mailbeacon.store.schema import copies, messages
from tests.support.lettr import EACH_DB, Api
from tests.support.tenants import new_tenant
from tests.support.workers import deliver as deliver_pass
from tests.support.workers import promote

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HTML = (
    "<html><body><p>Hi</p>"
    '<a href="https://shop.example/a">First</a>'
    '<a href="https://shop.example/b">Second</a>'
    "</body></html>"
)
TRACKING = re.compile(r"http://t\.example\.test/([co])/[A-Za-z0-9_-]{32}")


def stored_copies(api: Api, request_id: str) -> list[tuple[str, str, EmailMessage]]:
    """(recipient, kind, parsed copy) of every copy of the message, in recipient order."""
    with api.services.db.read() as conn:
        rows = conn.execute(
            select(copies.c.recipient, copies.c.recipient_kind, copies.c.raw)
            .join(messages, messages.c.id == copies.c.message_id)
            .where(messages.c.public_id == request_id)
            .order_by(copies.c.id)
        ).all()
    return [
        (row.recipient, row.recipient_kind, parse(row.raw))  # type: ignore[misc]
        for row in rows
    ]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def only_html(api: Api, request_id: str) -> str:
    (_, _, message), *_ = stored_copies(api, request_id)
    return html_of(message)


def stored_message(api: Api, request_id: str) -> Any:
    with api.services.db.read() as conn:
        return conn.execute(select(messages).where(messages.c.public_id == request_id)).one()


def message_count(api: Api) -> int:
    with api.services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


def tracking_urls(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"o": [], "c": []}
    for match in TRACKING.finditer(html):
        found[match.group(1)].append(match.group(0))
    return found


def deliver(api: Api, sender: Any = None) -> None:
    asyncio.run(deliver_pass(api.services, sender or Capture()))


class Refusing:
    name = "refusing"

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        return Result(Outcome.PERMANENT, "550 5.1.1 <ann@example.org>: no such user")


# --- sending -----------------------------------------------------------------------------------


def test_send_answers_exactly_what_the_sdk_reads(api: Api) -> None:
    resp = api.send()
    assert re.fullmatch(r"[0-9a-f-]{36}", resp.request_id)
    assert (resp.accepted, resp.rejected, resp.replayed) == (1, 0, False)
    answer = api.post(
        {"from": "shop@shop.example", "to": ["a@example.org"], "subject": "S", "text": "t"}
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"request_id": answer.json()["data"]["request_id"], "accepted": 1, "rejected": 0}
    }
    assert "idempotency-replayed" not in answer.headers


def test_tracking_is_on_by_default_like_lettrs(api: Api) -> None:
    resp = api.send()
    html = only_html(api, resp.request_id)
    urls = tracking_urls(html)
    assert len(urls["o"]) == 1
    assert len(urls["c"]) == 3  # the honeypot and both links
    assert 'href="https://shop.example/' not in html
    row = stored_message(api, resp.request_id)
    assert (row.track_opens, row.track_clicks) == (True, True)


def test_options_off_leave_the_copy_untracked(api: Api) -> None:
    resp = api.send(options=lettr.EmailOptions(open_tracking=False, click_tracking=False))
    html = only_html(api, resp.request_id)
    assert "t.example.test" not in html
    assert 'href="https://shop.example/a"' in html
    assert 'href="https://shop.example/b"' in html
    row = stored_message(api, resp.request_id)
    assert (row.track_opens, row.track_clicks) == (False, False)


def test_open_tracking_alone_adds_the_pixel_but_keeps_the_links(api: Api) -> None:
    resp = api.send(options=lettr.EmailOptions(open_tracking=True, click_tracking=False))
    html = only_html(api, resp.request_id)
    assert len(tracking_urls(html)["o"]) == 1
    assert tracking_urls(html)["c"] == []
    assert 'href="https://shop.example/a"' in html


def test_click_tracking_alone_rewrites_the_links_without_a_pixel(api: Api) -> None:
    resp = api.send(options=lettr.EmailOptions(open_tracking=False, click_tracking=True))
    html = only_html(api, resp.request_id)
    assert tracking_urls(html)["o"] == []
    assert len(tracking_urls(html)["c"]) >= 2
    assert 'href="https://shop.example/a"' not in html


def test_absent_options_fall_back_to_the_route_and_given_ones_override_it(api: Api) -> None:
    services = api.services
    with services.db.write() as conn:
        route = tenancy.route_by_slug(conn, api.tenant.project.id, tenancy.DEFAULT_ROUTE_SLUG)
        assert route is not None
        tenancy.update_route(
            conn, route.id, services.clock.now(), track_opens=False, track_clicks=False
        )
    quiet = api.send(options=lettr.EmailOptions(transactional=True))
    assert "t.example.test" not in only_html(api, quiet.request_id)
    opened = api.send(options=lettr.EmailOptions(open_tracking=True))
    urls = tracking_urls(only_html(api, opened.request_id))
    assert (len(urls["o"]), urls["c"]) == (1, [])


def test_the_transactional_option_is_stored_and_defaults_to_true(api: Api) -> None:
    default = api.send()
    marketing = api.send(options=lettr.EmailOptions(transactional=False))
    assert stored_message(api, default.request_id).transactional is True
    assert stored_message(api, marketing.request_id).transactional is False


def test_cc_and_bcc_recipients_each_get_their_own_copy(api: Api) -> None:
    resp = api.send(cc=["carl@example.org"], bcc=["bea@example.org"])
    assert resp.accepted == 3
    found = stored_copies(api, resp.request_id)
    assert [(r, k) for r, k, _ in found] == [
        ("ann@example.org", "to"),
        ("carl@example.org", "cc"),
        ("bea@example.org", "bcc"),
    ]
    pixels = {tracking_urls(html_of(m))["o"][0] for _, _, m in found}
    assert len(pixels) == 3  # every hit names its recipient
    for _, _, message in found:
        assert message["Cc"] == "carl@example.org"
        assert message["Bcc"] is None
        assert b"bea@example.org" not in message.as_bytes()


def test_from_name_and_reply_to_become_headers(api: Api) -> None:
    resp = api.send(from_name="Shop", reply_to="help@shop.example", reply_to_name="Support")
    (_, _, message), *_ = stored_copies(api, resp.request_id)
    assert message["From"] == "Shop <shop@shop.example>"
    assert message["Reply-To"] == "Support <help@shop.example>"
    assert message["Subject"] == "Your order"


def test_tag_and_metadata_are_stored(api: Api) -> None:
    resp = api.send(tag="orders", metadata={"order": "42", "shop": "eu"})
    row = stored_message(api, resp.request_id)
    assert row.tag == "orders"
    assert row.metadata == {"order": "42", "shop": "eu"}
    assert row.source == "lettr"


def test_attachments_are_in_every_copy(api: Api) -> None:
    content = b"%PDF-1.4 invoice"
    attachment = lettr.Attachment(
        name="invoice.pdf", type="application/pdf", data=base64.b64encode(content).decode()
    )
    resp = api.send(text="See attached.", attachments=[attachment], cc=["carl@example.org"])
    for _, _, message in stored_copies(api, resp.request_id):
        (part,) = list(message.iter_attachments())
        assert part.get_filename() == "invoice.pdf"
        assert part.get_content_type() == "application/pdf"
        assert part.get_content() == content


def test_links_opted_out_with_msys_clicktrack_are_left_alone(api: Api) -> None:
    html = (
        "<html><body>"
        '<a href="https://shop.example/keep" data-msys-clicktrack="0">Keep</a>'
        '<a href="https://shop.example/track">Track</a>'
        "</body></html>"
    )
    resp = api.send(html=html)
    copy = only_html(api, resp.request_id)
    assert '<a href="https://shop.example/keep" data-msys-clicktrack="0">Keep</a>' in copy
    assert "https://shop.example/track" not in copy
    assert len(tracking_urls(copy)["c"]) == 2  # the honeypot and "Track"


# --- idempotency -------------------------------------------------------------------------------


@EACH_DB
def test_a_replay_answers_the_original_and_sends_nothing_more(api: Api) -> None:
    first = api.send(tag="orders", idempotency_key="order-42.v1")
    again = api.send(tag="orders", idempotency_key="order-42.v1")
    assert first.replayed is False
    assert again.replayed is True
    assert again.request_id == first.request_id
    assert (again.accepted, again.rejected) == (1, 0)
    assert message_count(api) == 1


@EACH_DB
def test_the_same_key_with_another_body_is_a_conflict(api: Api) -> None:
    api.send(idempotency_key="order-42")
    with pytest.raises(lettr.IdempotencyConflictError) as caught:
        api.send(subject="Something else", idempotency_key="order-42")
    assert caught.value.error_code == "idempotency_key_conflict"
    assert message_count(api) == 1


@EACH_DB
def test_a_key_still_in_flight_asks_to_retry_later(api: Api) -> None:
    payload = {"from": "shop@shop.example", "to": ["ann@example.org"], "subject": "S", "html": HTML}
    with api.services.db.write() as conn:  # a first request that has not finished yet
        idempotency.begin(
            conn,
            api.tenant.project.id,
            "lettr.emails",
            "busy-1",
            body_hash(payload),
            api.services.clock.now(),
        )
    with pytest.raises(lettr.IdempotencyInProgressError) as caught:
        api.send(subject="S", idempotency_key="busy-1")
    assert caught.value.retry_after == 1
    answer = api.post(payload, **{"Idempotency-Key": "busy-1"})
    assert answer.status_code == 409
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error_code"] == "idempotency_in_progress"
    assert message_count(api) == 0


@EACH_DB
def test_keys_belong_to_one_project(api: Api) -> None:
    other = new_tenant(api.services.db, api.services.clock, "Other")
    theirs = lettr.Lettr(other.sending_token, base_url=f"{api.base}/api")
    mine = api.send(idempotency_key="shared-key")
    their = theirs.emails.send(
        from_email="shop@shop.example",
        to=["ann@example.org"],
        subject="Your order",
        html=HTML,
        idempotency_key="shared-key",
    )
    theirs.close()
    assert their.replayed is False
    assert their.request_id != mine.request_id


def test_the_sdk_refuses_a_malformed_key_before_sending(api: Api) -> None:
    with pytest.raises(lettr.ValidationError) as caught:
        api.send(idempotency_key="not a key!")
    assert "Idempotency-Key" in caught.value.errors
    assert message_count(api) == 0


@pytest.mark.parametrize("key", ["not a key!", "a/b", "", "k" * 256, "ключ"])
def test_the_server_refuses_a_malformed_key_too(api: Api, key: str) -> None:
    body = {"from": "shop@shop.example", "to": ["ann@example.org"], "subject": "S", "text": "t"}
    answer = httpx.post(
        f"{api.base}/api/emails",
        json=body,
        # As bytes: httpx refuses non-ASCII header values given as str, a raw client does not.
        headers=[
            (b"authorization", f"Bearer {api.tenant.sending_token}".encode()),
            (b"idempotency-key", key.encode()),
        ],
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == {
        "Idempotency-Key": ["Use 1 to 255 letters, digits, periods, underscores or hyphens."]
    }
    assert answer.json()["error_code"] == "validation_error"
    assert message_count(api) == 0


def test_a_255_character_key_is_fine(api: Api) -> None:
    assert api.send(idempotency_key="k" * 255).replayed is False


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"from_email": ""}, "from"),
        ({"to": ["not-an-address"]}, "to.0"),
        ({"html": None}, "html"),
        ({"template_slug": "welcome"}, "template_slug"),
        ({"reply_to": "nobody"}, "reply_to"),
        ({"options": lettr.EmailOptions(open_tracking="yes")}, "options.open_tracking"),  # type: ignore[arg-type]
    ],
)
def test_invalid_sends_are_refused_field_by_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(lettr.ValidationError) as caught:
        api.send(**fields)
    assert field in caught.value.errors
    assert all(isinstance(m, str) for m in caught.value.errors[field])
    assert message_count(api) == 0


def test_a_wrong_token_is_refused(api: Api) -> None:
    stranger = lettr.Lettr("lttr_nobody", base_url=f"{api.base}/api")
    with pytest.raises(lettr.AuthenticationError):
        stranger.emails.send(
            from_email="shop@shop.example", to=["ann@example.org"], subject="S", text="t"
        )
    with pytest.raises(lettr.AuthenticationError):
        stranger.emails.get("00000000-0000-0000-0000-000000000000")
    stranger.close()
    answer = httpx.post(f"{api.base}/api/emails", json={})
    assert answer.status_code == 401
    assert answer.json()["error_code"] == "unauthenticated"
    assert message_count(api) == 0


# --- reading an email --------------------------------------------------------------------------


def test_a_new_email_is_queued_with_one_injection_per_recipient(api: Api) -> None:
    resp = api.send(from_name="Shop", cc=["carl@example.org"], tag="orders")
    detail = api.client.emails.get(resp.request_id)
    assert detail.transmission_id == resp.request_id
    assert detail.state == "queued"
    assert detail.from_email == "shop@shop.example"
    assert detail.from_name == "Shop"
    assert detail.subject == "Your order"
    assert detail.recipients == ["ann@example.org", "carl@example.org"]
    assert detail.num_recipients == 2
    assert [(e.type, e.rcpt_to, e.rcpt_type) for e in detail.events] == [
        ("injection", "ann@example.org", None),
        ("injection", "carl@example.org", "cc"),
    ]
    injection = detail.events[0]
    assert injection.request_id == resp.request_id
    assert injection.timestamp == "2026-11-23T12:00:00.000Z"
    assert injection.friendly_from == "Shop <shop@shop.example>"
    assert injection.rcpt_tags == ["orders"]
    assert (injection.open_tracking, injection.click_tracking) == (True, True)
    assert injection.message_id is not None
    assert injection.message_id.endswith("@shop.example")
    (_, _, message), *_ = stored_copies(api, resp.request_id)
    assert message["Message-ID"] == f"<{injection.message_id}>"


@EACH_DB
def test_a_captured_email_reads_as_delivered(api: Api) -> None:
    resp = api.send(metadata={"order": "42"})
    clock: FixedClock = api.services.clock  # type: ignore[assignment]
    clock.advance(seconds=3)
    deliver(api)
    detail = api.client.emails.get(resp.request_id)
    assert detail.state == "delivered"
    assert [e.type for e in detail.events] == ["injection", "delivery"]
    delivery = detail.events[1]
    assert delivery.rcpt_to == "ann@example.org"
    assert delivery.delv_method == "capture"
    assert delivery.queue_time == 3000
    assert delivery.rcpt_meta == {"order": "42"}
    assert delivery.timestamp == "2026-11-23T12:00:03.000Z"


def test_a_refused_email_reads_as_bounced(api: Api) -> None:
    resp = api.send()
    deliver(api, Refusing())
    detail = api.client.emails.get(resp.request_id)
    assert detail.state == "bounced"
    bounce = detail.events[-1]
    assert bounce.type == "bounce"
    assert bounce.bounce_class == 1
    assert bounce.error_code == "550"
    assert bounce.reason == "550 5.1.1 <ann@example.org>: no such user"
    assert bounce.num_retries == 0


@EACH_DB
def test_clicks_and_opens_are_listed_and_machine_ones_labelled(api: Api) -> None:
    resp = api.send()
    deliver(api)
    urls = tracking_urls(only_html(api, resp.request_id))
    honeypot, first, _second = urls["c"]  # the honeypot comes right after <body>
    clock: FixedClock = api.services.clock  # type: ignore[assignment]
    # A person reads it ten minutes later; an hour later something follows the hidden link.
    # Separate promotion passes, so that neither hit is judged by the other.
    for minutes, hits in ((10, (urls["o"][0], first)), (60, (honeypot,))):
        clock.advance(minutes=minutes)
        for url in hits:
            local = url.replace("http://t.example.test", api.base)
            assert httpx.get(local, headers={"user-agent": CHROME}).status_code in (200, 302)
        clock.advance(seconds=6)
        assert promote(api.services) == len(hits)
    detail = api.client.emails.get(resp.request_id)
    types = [e.type for e in detail.events]
    assert types == ["injection", "delivery", "open", "click", "click"]
    opened, clicked, trap = detail.events[2:]
    assert opened.initial_pixel is True
    assert opened.user_agent == CHROME
    assert opened.ip_address == "127.0.0.0"  # as the privacy setting stored it
    assert clicked.target_link_url == "https://shop.example/a"
    assert clicked.target_link_name == "First"
    assert clicked.rcpt_to == "ann@example.org"
    parsed = clicked.user_agent_parsed
    assert parsed is not None
    assert (parsed.agent_family, parsed.os_family, parsed.is_mobile) == ("Chrome", "Windows", False)
    assert (parsed.is_proxy, parsed.is_prefetched) == (False, False)
    assert trap.user_agent_parsed is not None
    assert trap.user_agent_parsed.is_prefetched is True  # labelled, not dropped
    raw = api.get(f"/emails/{resp.request_id}").json()["data"]["events"]
    assert raw[3]["bot"]["machine"] is False
    assert raw[3]["bot"]["classification"] == "genuine"
    assert raw[4]["bot"]["machine"] is True
    assert raw[4]["bot"]["counts_for_metrics"] is False
    assert raw[4]["bot"]["classification"] == "generic_bot"


def test_a_gmail_proxy_open_is_marked_as_a_proxy(api: Api) -> None:
    resp = api.send()
    pixel = tracking_urls(only_html(api, resp.request_id))["o"][0]
    proxy = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    httpx.get(pixel.replace("http://t.example.test", api.base), headers={"user-agent": proxy})
    api.services.clock.advance(seconds=6)  # type: ignore[attr-defined]
    promote(api.services)
    opened = api.client.emails.get(resp.request_id).events[-1]
    assert opened.type == "open"
    assert opened.user_agent_parsed is not None
    assert opened.user_agent_parsed.is_proxy is True
    assert opened.user_agent_parsed.is_prefetched is False  # a person opened it, via the proxy


@EACH_DB
def test_events_can_be_limited_to_a_window(api: Api) -> None:
    resp = api.send()
    api.services.clock.advance(hours=1)  # type: ignore[attr-defined]
    deliver(api)
    later = api.client.emails.get(resp.request_id, from_date="2026-11-23T12:30:00Z")
    assert [e.type for e in later.events] == ["delivery"]
    earlier = api.client.emails.get(resp.request_id, to_date="2026-11-23T12:30:00+00:00")
    assert [e.type for e in earlier.events] == ["injection"]
    that_day = api.client.emails.get(resp.request_id, to_date="2026-11-23")
    assert [e.type for e in that_day.events] == ["injection", "delivery"]
    with pytest.raises(lettr.ValidationError) as caught:
        api.client.emails.get(resp.request_id, from_date="yesterday")
    assert "from" in caught.value.errors


@EACH_DB
def test_unknown_and_other_projects_emails_are_not_found(api: Api) -> None:
    other = new_tenant(api.services.db, api.services.clock, "Other")
    theirs = lettr.Lettr(other.sending_token, base_url=f"{api.base}/api")
    their_id = theirs.emails.send(
        from_email="shop@shop.example", to=["ann@example.org"], subject="S", text="t"
    ).request_id
    theirs.close()
    for request_id in (their_id, "00000000-0000-0000-0000-000000000000", "nope"):
        with pytest.raises(lettr.NotFoundError) as caught:
            api.client.emails.get(request_id)
        assert caught.value.error_code == "not_found"
    body = api.get(f"/emails/{their_id}").json()
    assert body == {
        "message": "No email with this request id.",
        "error_code": "not_found",
        "error": {
            "code": "not_found",
            "message": "No email with this request id.",
            "details": None,
        },
    }


# --- what is not served ------------------------------------------------------------------------


def test_what_is_not_served_under_api_is_the_json_404(api: Api) -> None:
    for method, path in [
        ("GET", "/api/no-such-thing"),
        ("DELETE", "/api/emails"),
        ("POST", "/api/emails/abc"),
        ("GET", "/api/emails/"),
    ]:
        answer = httpx.request(method, api.base + path, headers={"accept": "application/json"})
        assert answer.status_code == 404, (method, path)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error_code"] == "not_found"
        assert answer.json()["error"]["code"] == "not_found"


def test_sdk_calls_out_of_scope_say_so(api: Api) -> None:
    """Scheduling, templates, audiences, campaigns, ...: a 404 ``not_supported`` naming what."""
    calls: list[Callable[[], object]] = [
        lambda: api.client.emails.schedule(
            from_email="shop@shop.example",
            to=["ann@example.org"],
            subject="S",
            text="t",
            scheduled_at="2026-11-24T09:00:00Z",
        ),
        api.client.emails.list_scheduled,
        lambda: api.client.emails.get_scheduled("sch_1"),
        lambda: api.client.emails.cancel_scheduled("sch_1"),
        api.client.templates.list,
        api.client.projects.list,
        api.client.campaigns.list,
        api.client.audience.lists.list,
        api.client.auth_check,
    ]
    for call in calls:
        with pytest.raises(lettr.NotFoundError) as caught:
            call()
        assert caught.value.error_code == "not_supported"
        assert "not supported by this server" in caught.value.message
