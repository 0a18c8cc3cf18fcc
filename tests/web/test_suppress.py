"""After sending, end to end on each database (issue 19, items 3 to 5): the suppression list
through the official SDK, suppressed and opted-out recipients, RFC 8058 one-click
unsubscribe, and bounces (the upstream's refusals over real SMTP, and a DSN sent to the
relay's VERP address over real SMTP).

One server, relay and upstream per database for the module; each test uses addresses of its
own, so they share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import smtplib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import lettr
import pytest
from lettermint import Lettermint, NotFoundError, ValidationError
from sqlalchemy import select

from mailbeacon.app import build_services, create_app
from mailbeacon.clock import FixedClock
from mailbeacon.core.intake.unsubscribe import with_one_click
from mailbeacon.service.context import Services
from mailbeacon.smtp.relay import SmtpRelay
from mailbeacon.smtp.upstream import SmtpSender
from mailbeacon.store.schema import copies, messages, webhook_deliveries
from tests.conftest import START, make_settings
from tests.smtp.test_relay import relay_in_thread
from tests.support import databases
from tests.support.server import serve_in_thread
from tests.support.smtp_server import UpstreamServer, upstream_server
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import deliver

BOUNCES = "bounces.example.test"
HTML = '<html><body><p>News</p><a href="https://shop.example/a">Read</a></body></html>'
SCANNER = {"user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"}
UNSUBSCRIBE_URL = re.compile(rb"List-Unsubscribe: <http://t\.example\.test/u/([A-Za-z0-9_-]{32})>")
HOOKED = (
    "message.failed",
    "message.hard_bounced",
    "message.soft_bounced",
    "message.suppressed",
    "message.unsubscribed",
)


@dataclass
class Site:
    base: str
    services: Services
    tenant: Tenant
    lm: Lettermint
    upstream: UpstreamServer
    relay: SmtpRelay
    broadcast: str  # a broadcast route's public id, with one-click unsubscribe

    @property
    def team(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.team_token}"}

    def send(self, to: list[str], **fields: Any) -> str:
        body = {"from": "Shop <shop@shop.example>", "to": to, "subject": "News", "html": HTML}
        return str(self.lm.emails.send({**body, **fields})["message_id"])  # type: ignore[typeddict-item]

    def drain(self) -> None:
        """Everything due, to the upstream over SMTP (as the outbound worker would)."""

        async def run() -> None:
            sender = SmtpSender(self.upstream.upstream())
            while await deliver(self.services, sender):
                pass
            await sender.aclose()

        asyncio.run(run())

    def statuses(self, message_id: str) -> dict[str, str]:
        found = self.lm.messages.retrieve(message_id)["recipients"]  # type: ignore[typeddict-item]
        return {r["email"]: r["status"] for r in found}

    def events(self, message_id: str) -> list[dict[str, Any]]:
        return list(self.lm.messages.events(message_id)["data"])  # type: ignore[arg-type]

    def hooks(self, name: str, recipient: str) -> list[dict[str, Any]]:
        """The webhook deliveries of ``name`` about ``recipient``, as their bodies."""
        with self.services.db.read() as conn:
            rows = conn.execute(
                select(webhook_deliveries.c.payload).where(webhook_deliveries.c.event_type == name)
            )
            bodies = [json.loads(row.payload) for row in rows]
        return [b for b in bodies if b["data"].get("recipient") == recipient]

    def raws(self, message_id: str) -> tuple[bytes, dict[str, bytes]]:
        """The message as accepted, and each recipient's copy."""
        with self.services.db.read() as conn:
            message = conn.execute(
                select(messages.c.id, messages.c.raw).where(messages.c.public_id == message_id)
            ).one()
            rows = conn.execute(
                select(copies.c.recipient, copies.c.raw).where(copies.c.message_id == message.id)
            )
            return message.raw, {row.recipient: row.raw for row in rows}

    def lettr_events(self, kind: str, recipient: str) -> list[Any]:
        """Lettr's SDK's event list of one type for one recipient."""
        with lettr.Lettr(
            self.tenant.sending_token, base_url=f"{self.base}/api", timeout=10
        ) as client:
            return list(client.emails.list_events(events=[kind], recipients=[recipient]).results)

    def suppressions(self, value: str) -> list[dict[str, Any]]:
        return list(self.lm.suppressions.list({"filter": {"value": value}})["data"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(tmp_path_factory.mktemp("db"))])
    else:
        urls = databases.fresh_postgres()
    url = next(urls)
    settings = make_settings(
        url,
        bounce_domain=BOUNCES,
        webhook_allow_private_networks="true",
        journal_dir=str(tmp_path_factory.mktemp("journal")),
    )
    services = build_services(settings, clock=FixedClock(START))
    tenant = new_tenant(services.db, services.clock)
    relay = SmtpRelay(services, port=0)
    try:
        with contextlib.ExitStack() as stack:
            base = stack.enter_context(serve_in_thread(create_app(services, workers={})))
            stack.enter_context(relay_in_thread(relay))
            upstream = stack.enter_context(upstream_server())
            lm = stack.enter_context(
                Lettermint(
                    sending_token=tenant.sending_token,
                    team_token=tenant.team_token,
                    base_url=f"{base}/v1",
                )
            )
            lm.webhooks.create(
                {"name": "App", "url": "http://127.0.0.1:9/hooks", "events": list(HOOKED)}
            )
            route = lm.routes.create(
                tenant.project.public_id,
                {
                    "name": "Newsletter",
                    "route_type": "broadcast",
                    "settings": {"one_click_unsubscribe": True},  # type: ignore[typeddict-unknown-key]
                },
            )["data"]
            yield Site(base, services, tenant, lm, upstream, relay, route["id"])
    finally:
        services.db.dispose()
        next(urls, None)


# --- 3. the suppression list and who is refused ------------------------------------------------


def test_the_sdks_suppression_calls_add_list_filter_and_remove(site: Site) -> None:
    lm = site.lm
    added = lm.suppressions.create(
        {"emails": ["Sdk-A@Example.org", "sdk-b@example.org"], "reason": "manual", "scope": "team"}
    )
    assert added["data"] == {"created": ["sdk-a@example.org", "sdk-b@example.org"], "skipped": []}
    again = lm.suppressions.create(
        {"email": "sdk-a@example.org", "reason": "manual", "scope": "team"}
    )
    assert again["data"] == {"created": [], "skipped": ["sdk-a@example.org"]}
    project = lm.suppressions.create(
        {
            "email": "sdk-c@example.org",
            "reason": "complaint",  # read as Lettermint's spam_complaint
            "scope": "project",
            "project_id": site.tenant.project.public_id,
        }
    )
    assert project["data"]["created"] == ["sdk-c@example.org"]
    listed = {s["value"]: s for s in lm.suppressions.iterate({"filter": {"value": "sdk-"}})}
    assert set(listed) == {"sdk-a@example.org", "sdk-b@example.org", "sdk-c@example.org"}
    first = listed["sdk-a@example.org"]
    assert first["type"] == "email"
    assert first["reason"] == "manual"
    assert first["scope"] == "team"
    assert first["applies_to"] == "all"
    assert first["project_id"] is None
    assert first["created_at"] == "2026-11-23T12:00:00.000Z"
    assert listed["sdk-c@example.org"]["reason"] == "spam_complaint"
    assert listed["sdk-c@example.org"]["project_id"] == site.tenant.project.public_id
    only = lm.suppressions.list({"filter": {"reason": "spam_complaint", "value": "sdk-"}})
    assert [s["value"] for s in only["data"]] == ["sdk-c@example.org"]
    page = lm.suppressions.list({"filter": {"value": "sdk-"}, "page": {"size": 2}})
    assert len(page["data"]) == 2
    assert page["next_cursor"]
    removed = lm.suppressions.delete(first["id"])
    assert removed == {"success": True, "status": "removed", "message": "Suppression removed."}
    assert not site.suppressions("sdk-a@")
    with pytest.raises(NotFoundError):
        lm.suppressions.delete(first["id"])
    for bad in (
        {"email": "not an address", "reason": "manual", "scope": "team"},
        {"email": "x@example.org", "reason": "bored", "scope": "team"},
        {"email": "x@example.org", "reason": "manual", "scope": "planet"},
        {"email": "x@example.org", "reason": "manual", "scope": "route"},  # which route?
        {"reason": "manual", "scope": "team"},
    ):
        with pytest.raises(ValidationError):
            lm.suppressions.create(bad)  # type: ignore[arg-type]
    other = new_tenant(site.services.db, site.services.clock, "Other")
    with Lettermint(team_token=other.team_token, base_url=f"{site.base}/v1") as theirs:
        assert not theirs.suppressions.list()["data"]  # another team sees none of ours
        with pytest.raises(NotFoundError):
            theirs.suppressions.delete(listed["sdk-b@example.org"]["id"])
        with pytest.raises(NotFoundError):  # nor can it suppress in our project
            theirs.suppressions.create(
                {
                    "email": "x@example.org",
                    "reason": "manual",
                    "scope": "project",
                    "project_id": site.tenant.project.public_id,
                }
            )


def test_a_suppressed_recipient_is_refused_with_the_reason_and_the_others_get_theirs(
    site: Site,
) -> None:
    site.lm.suppressions.create(
        {"email": "gone-3@example.org", "reason": "manual", "scope": "team"}
    )
    answer = site.lm.emails.send(
        {
            "from": "shop@shop.example",
            "to": ["Gone-3@example.org", "here-3@example.org"],
            "subject": "News",
            "html": HTML,
        }
    )
    assert answer["suppressed_recipients"] == [  # type: ignore[typeddict-item]
        {"email": "Gone-3@example.org", "reason": "manual"}
    ]
    message_id = answer["message_id"]
    assert site.statuses(message_id) == {
        "Gone-3@example.org": "suppressed",
        "here-3@example.org": "queued",
    }
    site.drain()
    assert site.upstream.recorder.delivered_to("here-3@example.org")
    assert not site.upstream.recorder.delivered_to("Gone-3@example.org")
    assert site.statuses(message_id)["Gone-3@example.org"] == "suppressed"
    refused = [e for e in site.events(message_id) if e["event"] == "suppressed"]
    assert [e["metadata"]["recipient"] for e in refused] == ["Gone-3@example.org"]
    assert refused[0]["metadata"]["reason"] == "manual"
    [hook] = site.hooks("message.suppressed", "Gone-3@example.org")
    assert hook["data"]["reason"] == "manual"
    assert hook["data"]["scope"] == "team"
    assert hook["data"]["applies_to"] == "all"
    assert hook["data"]["message_id"] == message_id
    [rejected] = site.lettr_events("policy_rejection", "gone-3@example.org")
    assert (rejected.request_id, rejected.bounce_class) == (message_id, 25)
    only = site.send(["gone-3@example.org"])
    assert site.lm.messages.retrieve(only)["status"] == "suppressed"


def test_transactional_mail_is_blocked_only_by_bounces_complaints_and_all_mail_suppressions(
    site: Site,
) -> None:
    lm = site.lm
    for address, reason, applies_to in (
        ("t-unsub@example.org", "unsubscribe", "broadcast"),
        ("t-brd@example.org", "manual", "broadcast"),
        ("t-bounce@example.org", "hard_bounce", "all"),
        ("t-spam@example.org", "spam_complaint", "all"),
    ):
        lm.suppressions.create(
            {"email": address, "reason": reason, "scope": "team", "applies_to": applies_to}
        )
    everyone = ["t-unsub@example.org", "t-brd@example.org", "t-bounce@example.org"]
    everyone += ["t-spam@example.org", "t-ok@example.org"]
    transactional = site.statuses(site.send(everyone))
    assert {a for a, s in transactional.items() if s == "suppressed"} == {
        "t-bounce@example.org",
        "t-spam@example.org",
    }
    broadcast = site.statuses(site.send(everyone, route="newsletter"))
    assert {a for a, s in broadcast.items() if s != "suppressed"} == {"t-ok@example.org"}
    # Lettr's transactional flag: false makes mail on a transactional route broadcast mail
    lettr = {"authorization": f"Bearer {site.tenant.sending_token}"}
    for flag, refused in ((True, 2), (False, 4)):
        answer = httpx.post(
            f"{site.base}/api/emails",
            headers=lettr,
            json={
                "from": "shop@shop.example",
                "to": everyone,
                "subject": "Hi",
                "html": HTML,
                "options": {"transactional": flag},
            },
        )
        assert answer.status_code == 200, answer.text
        message_id = answer.json()["data"]["request_id"]
        statuses = site.statuses(message_id)
        assert sum(s == "suppressed" for s in statuses.values()) == refused, flag


def test_an_opted_out_recipient_gets_the_message_untouched_whatever_the_route_says(
    site: Site,
) -> None:
    answer = httpx.post(
        f"{site.base}/v1/tracking-opt-outs", headers=site.team, json={"emails": ["Opt@example.org"]}
    )
    assert answer.status_code == 201
    assert answer.json()["data"] == {"created": ["opt@example.org"], "skipped": []}
    message_id = site.send(
        ["opt@example.org", "tracked@example.org"],
        settings={"track_opens": True, "track_clicks": True},
    )
    raw, copy_of = site.raws(message_id)
    assert copy_of["opt@example.org"] == raw  # no pixel, no rewritten link: every byte
    assert b"/o/" in copy_of["tracked@example.org"]
    assert b"/c/" in copy_of["tracked@example.org"]
    assert site.lm.messages.retrieve(message_id)["links"][0]["url"] == "https://shop.example/a"  # type: ignore[typeddict-item]
    listed = httpx.get(f"{site.base}/v1/tracking-opt-outs", headers=site.team).json()["data"]
    [mine] = [o for o in listed if o["value"] == "opt@example.org"]
    gone = httpx.delete(f"{site.base}/v1/tracking-opt-outs/{mine['id']}", headers=site.team)
    assert gone.status_code == 200
    raw, copy_of = site.raws(site.send(["opt@example.org"]))
    assert b"/o/" in copy_of["opt@example.org"]
    bad = httpx.post(
        f"{site.base}/v1/tracking-opt-outs", headers=site.team, json={"emails": ["nobody"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


# --- 4. one-click unsubscribe -----------------------------------------------------------------


def test_one_click_unsubscribe_records_once_suppresses_broadcast_and_a_get_never_counts(
    site: Site,
) -> None:
    message_id = site.send(["leave@example.org"], route="newsletter")
    _, copy_of = site.raws(message_id)
    copy = copy_of["leave@example.org"]
    found = UNSUBSCRIBE_URL.search(copy)
    assert found, copy[:600]
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in copy
    url = f"{site.base}/u/{found.group(1).decode()}"
    for _ in range(2):  # a scanner, a provider's preview: the page, nothing recorded
        page = httpx.get(url, headers=SCANNER)
        assert page.status_code == 200
        assert '<form method="post">' in page.text
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert not [e for e in site.events(message_id) if e["event"] == "unsubscribed"]
    wrong = httpx.post(url, data={"List-Unsubscribe": "Yes"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "bad_request"
    forged = httpx.post(url[:-4] + "AAAA", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 404
    with ThreadPoolExecutor(4) as pool:  # a provider retrying, a person too, all at once
        answers = list(
            pool.map(lambda _: httpx.post(url, data={"List-Unsubscribe": "One-Click"}), range(4))
        )
    for done in answers:
        assert done.status_code == 200
        assert "You are unsubscribed" in done.text
    assert [e["event"] for e in site.events(message_id)].count("unsubscribed") == 1
    [hook] = site.hooks("message.unsubscribed", "leave@example.org")
    assert hook["data"]["message_id"] == message_id
    [suppression] = site.suppressions("leave@example.org")
    assert suppression["reason"] == "unsubscribe"
    assert suppression["scope"] == "route"
    assert suppression["route_id"] == site.broadcast
    assert suppression["applies_to"] == "broadcast"
    assert suppression["source_message"]["id"] == message_id
    assert site.statuses(site.send(["leave@example.org"], route="newsletter")) == {
        "leave@example.org": "suppressed"
    }
    assert site.statuses(site.send(["leave@example.org"])) == {"leave@example.org": "queued"}


def test_the_headers_are_added_and_every_other_byte_of_the_copy_kept(site: Site) -> None:
    httpx.post(
        f"{site.base}/v1/tracking-opt-outs",
        headers=site.team,
        json={"emails": ["plain@example.org"]},
    )
    message_id = site.send(["plain@example.org"], route="newsletter")
    raw, copy_of = site.raws(message_id)
    copy = copy_of["plain@example.org"]
    found = UNSUBSCRIBE_URL.search(copy)
    assert found
    assert copy == with_one_click(raw, f"http://t.example.test/u/{found.group(1).decode()}")
    head, body = copy.split(b"\r\n\r\n", 1)
    assert raw == head.rsplit(b"\r\nList-Unsubscribe:", 1)[0] + b"\r\n\r\n" + body


# --- 5. bounces -------------------------------------------------------------------------------


def test_an_upstream_refusal_is_a_hard_bounce_that_suppresses_the_address(site: Site) -> None:
    site.upstream.recorder.reply_to_rcpt("dead-5@example.org", "550 5.1.1 no such user")
    message_id = site.send(["dead-5@example.org"])
    site.drain()
    kinds = [e["event"] for e in site.events(message_id)]
    assert kinds == ["queued", "failed", "hard_bounced"]
    [hook] = site.hooks("message.hard_bounced", "dead-5@example.org")
    assert hook["data"]["response"] == "550 5.1.1 no such user"
    assert hook["data"]["enhanced_status"] == "5.1.1"
    assert hook["data"]["out_of_band"] is False
    assert site.lettr_events("out_of_band", "dead-5@example.org") == []  # it is the bounce
    assert [e.type for e in site.lettr_events("bounce", "dead-5@example.org")] == ["bounce"]
    [suppression] = site.suppressions("dead-5@example.org")
    assert suppression["reason"] == "hard_bounce"
    assert suppression["applies_to"] == "all"
    again = site.send(["dead-5@example.org"])  # transactional too: the address is gone
    assert site.statuses(again) == {"dead-5@example.org": "suppressed"}
    today = site.services.clock.now().date().isoformat()
    stats = site.lm.stats.retrieve({"from": today, "to": today})  # type: ignore[typeddict-item]
    assert stats["totals"]["hard_bounced"] >= 1  # type: ignore[typeddict-item]


def test_temporary_refusals_until_the_schedule_runs_out_are_a_soft_bounce(site: Site) -> None:
    site.upstream.recorder.reply_to_rcpt("busy-6@example.org", *["452 4.2.2 mailbox full"] * 12)
    message_id = site.send(["busy-6@example.org"])
    for _ in range(12):
        site.drain()
        site.services.clock.advance(hours=9)  # past every delay of the schedule
    kinds = [e["event"] for e in site.events(message_id)]
    assert kinds == ["queued", "failed", "soft_bounced"]
    [hook] = site.hooks("message.soft_bounced", "busy-6@example.org")
    assert hook["data"]["response"] == "452 4.2.2 mailbox full"
    assert not site.suppressions("busy-6@example.org")  # a full mailbox empties


DSN = """From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

This is the mail system at host mx.example.org. Your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; later-7@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <later-7@example.org>: Recipient address rejected:
    User unknown in virtual mailbox table

--B1
Content-Type: text/rfc822-headers

Subject: News

--B1--
"""


def test_a_dsn_sent_to_the_relay_is_a_hard_bounce_with_a_webhook_and_a_suppression(
    site: Site,
) -> None:
    message_id = site.send(["later-7@example.org"])
    site.drain()
    [delivery] = site.upstream.recorder.delivered_to("later-7@example.org")
    return_path = delivery.mail_from
    assert re.fullmatch(rf"bounce\+[A-Za-z0-9_-]{{32}}@{re.escape(BOUNCES)}", return_path)
    dsn = DSN.format(to=return_path).replace("\n", "\r\n").encode()
    with smtplib.SMTP("127.0.0.1", site.relay.port, timeout=30) as mta:  # no AUTH: an MX
        mta.ehlo("mx.example.org")
        assert mta.mail("<>")[0] == 250
        assert mta.rcpt("someone@example.org")[0] == 530  # anything else needs AUTH
        forged = "bounce+" + "A" * 32 + f"@{BOUNCES}"
        assert mta.rcpt(forged) == (550, b"5.1.1 No such bounce address")
        assert mta.rcpt(return_path)[0] == 250
        assert mta.data(dsn) == (250, b"2.0.0 Ok: bounce recorded")
        mta.mail("<>")
        mta.rcpt(return_path)
        assert mta.data(dsn)[0] == 250  # the same report again: recorded once
    bounced = [e for e in site.events(message_id) if e["event"] == "hard_bounced"]
    assert len(bounced) == 1
    assert bounced[0]["metadata"]["out_of_band"] is True
    assert bounced[0]["metadata"]["status"] == "5.1.1"
    [hook] = site.hooks("message.hard_bounced", "later-7@example.org")
    assert hook["data"]["response"].startswith("550 5.1.1 <later-7@example.org>: Recipient")
    [suppression] = site.suppressions("later-7@example.org")
    assert suppression["reason"] == "hard_bounce"
    assert suppression["source_message"]["id"] == message_id
    site.services.clock.advance(minutes=1)  # counts stop at now: the bounce is before it
    today = site.services.clock.now().date().isoformat()
    answer = site.lm.analytics(
        {
            "metrics": ["out_of_band_bounced_recipients", "delivered"],
            "from": today,
            "to": today,
        }  # type: ignore[typeddict-item]
    )
    assert answer["data"]["summary"]["metrics"]["out_of_band_bounced_recipients"] == 1  # type: ignore[typeddict-item]
    late = site.lettr_events("out_of_band", "later-7@example.org")
    assert [(e.type, e.request_id, e.error_code) for e in late] == [
        ("out_of_band", message_id, "550")
    ]


def test_copies_go_out_with_their_own_return_path_but_a_null_sender_stays_null(
    site: Site,
) -> None:
    site.send(["rp-8@example.org", "rp-9@example.org"])
    raw = b"From: robot@shop.example\r\nTo: rp-10@example.org\r\nSubject: Auto\r\n\r\nHi\r\n"
    with smtplib.SMTP("127.0.0.1", site.relay.port, timeout=30) as client:
        client.login("app", site.tenant.sending_token)
        client.sendmail("<>", ["rp-10@example.org"], raw)  # a message that must not bounce
    site.drain()
    paths = {
        d.rcpt_tos[0]: d.mail_from
        for d in site.upstream.recorder.deliveries
        if d.rcpt_tos[0].startswith("rp-")
    }
    assert paths["rp-8@example.org"] != paths["rp-9@example.org"]  # one per copy
    assert paths["rp-8@example.org"].endswith(f"@{BOUNCES}")
    assert paths["rp-10@example.org"] == "<>"  # MAIL FROM:<>, as aiosmtpd records it
