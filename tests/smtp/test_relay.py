"""The SMTP relay end to end: smtplib and swaks submit, a real database stores, a real upstream
SMTP server (aiosmtpd) receives each recipient's copy.

The relay runs as `mailbeacon smtp` runs it, on an event loop of its own thread, or inside the
ASGI application's lifespan as `mailbeacon serve` runs it, or as those commands themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Row, event, select
from sqlalchemy.engine import make_url

from mailbeacon.app import Services, create_app
from mailbeacon.cli import main
from mailbeacon.clock import SystemClock
from mailbeacon.core.errors import ConfigError
from mailbeacon.core.instrumentation.mime import walk
from mailbeacon.core.instrumentation.tokens import Purpose
from mailbeacon.smtp.relay import SmtpRelay
from mailbeacon.smtp.tls import server_tls
from mailbeacon.smtp.upstream import SmtpSender
from mailbeacon.store import tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.schema import copies, events, messages
from tests.conftest import SIGNING_KEYS, make_settings
from tests.strategies import documents
from tests.support import databases
from tests.support.process import MAILBEACON, serve_process
from tests.support.server import free_port, serve_in_thread
from tests.support.smtp_server import (
    Certificates,
    UpstreamServer,
    make_certificates,
    upstream_server,
)
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import deliver, promote

SENDER = "shop@shop.example"
TEXT = "Grüße aus Köln! Your order ships today: https://shop.example/order?id=1\n"
HTML = (
    "<!DOCTYPE html>\n<html><head><title>Grüße</title></head><body>\n"
    "<p>Grüße aus Köln, Zoë!</p>\n"
    '<p><a href="https://shop.example/order?id=1&amp;src=mail">Your order</a></p>\n'
    '<p><a href="mailto:help@shop.example">Write to us</a></p>\n'
    "</body></html>\n"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# The headers the relay reads and removes, as the test's own oracle: any line of those
# fields, folded continuation lines included.
CONTROL_LINES = re.compile(
    rb"(?im)^(x-lm-[^:\r\n]*|x-lettermint-route|idempotency-key|bcc)"
    rb":[^\n]*\n(?:[ \t][^\n]*\n)*"
)
TOKEN_URL = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")
CI = os.environ.get("CI") == "true"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
NO_FROM = b"To: ann@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
KLINGON = b"From: shop@shop.example\r\nContent-Type: text/html; charset=klingon\r\n\r\n<p>x</p>\r\n"


def mail(
    *,
    charset: str = "utf-8",
    cte: str = "quoted-printable",
    to: Sequence[str] = ("Ann <ann@example.org>",),
    cc: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    html: str = HTML,
    attach: bool = True,
) -> bytes:
    """A message as a framework's mailer makes it: multipart/alternative (plain and HTML in
    ``charset`` and ``cte``), a PDF attached, CRLF line ends."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = f"Shop <{SENDER}>"
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = "Grüße aus Köln"
    message["Date"] = "Mon, 23 Nov 2026 11:59:00 +0000"
    message["Message-ID"] = "<order-1@shop.example>"
    for name, value in headers:
        message[name] = value
    message.set_content(TEXT, subtype="plain", charset=charset, cte=cte)
    message.add_alternative(html, subtype="html", charset=charset, cte=cte)
    if attach:
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename="order.pdf")
    return message.as_bytes()


def header_block(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"


def without_controls(raw: bytes) -> bytes:
    head, body = raw.split(b"\r\n\r\n", 1)
    return CONTROL_LINES.sub(b"", head + b"\r\n") + b"\r\n" + body


@contextlib.contextmanager
def relay_in_thread(relay: SmtpRelay) -> Iterator[asyncio.AbstractEventLoop]:
    """``relay`` listening on an event loop of its own thread (as `mailbeacon smtp` runs it);
    yields that loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="relay", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(relay.start(), loop).result(10)
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(relay.stop(timeout=10), loop).result(30)
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class Site:
    services: Services
    relay: SmtpRelay
    tenant: Tenant
    loop: asyncio.AbstractEventLoop | None = None  # the relay's, when it runs in a thread

    def client(self, *, password: str | None = None, login: bool = True) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.relay.port, timeout=30)
        try:
            client.ehlo("app.example")
            if login:
                client.login("app", password or self.tenant.sending_token)
        except BaseException:
            client.close()
            raise
        return client

    def submit(
        self, raw: bytes, recipients: Sequence[str] = ("ann@example.org",)
    ) -> tuple[int, str]:
        """One transaction on a fresh session; the reply to DATA (or the first refusal)."""
        with self.client() as client:
            return transact(client, raw, recipients)

    def messages(self) -> list[Row[Any]]:
        with self.services.db.read() as conn:
            return list(conn.execute(select(messages).order_by(messages.c.id)))

    def copies(self) -> list[Row[Any]]:
        with self.services.db.read() as conn:
            return list(conn.execute(select(copies).order_by(copies.c.id)))


def transact(
    client: smtplib.SMTP,
    raw: bytes,
    recipients: Sequence[str] = ("ann@example.org",),
    options: Sequence[str] = (),
) -> tuple[int, str]:
    code, reply = client.mail(SENDER, list(options))
    if code != 250:
        client.rset()
        return code, reply.decode()
    for recipient in recipients:
        code, reply = client.rcpt(recipient)
        if code != 250:
            client.rset()
            return code, reply.decode()
    code, reply = client.data(raw)
    return code, reply.decode()


@pytest.fixture
def site_for(
    make_services: Callable[..., Services],
) -> Callable[..., contextlib.AbstractContextManager[Site]]:
    @contextlib.contextmanager
    def make(database_url: str, **env: str) -> Iterator[Site]:
        services = make_services(database_url, **env)
        tenant = new_tenant(services.db, services.clock)
        relay = SmtpRelay(services, port=0)
        with relay_in_thread(relay) as loop:
            yield Site(services, relay, tenant, loop)

    return make


@pytest.fixture
def site(site_for: Callable[..., Any], sqlite_url: str) -> Iterator[Site]:
    with site_for(sqlite_url) as running:
        yield running


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("certificates")))


def drain(services: Services, server: UpstreamServer) -> int:
    """Deliver everything due to ``server``, as the outbound worker does; copies attempted."""

    async def run() -> int:
        sender = SmtpSender(server.upstream())
        total = 0
        while done := await deliver(services, sender):
            total += done
        await sender.aclose()
        return total

    return asyncio.run(run())


def tokens_of(raw: bytes) -> list[tuple[str, str]]:
    message = email.message_from_bytes(raw, policy=policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    return TOKEN_URL.findall(html)


# --- 1. submission, storage, delivery of each recipient's copy ------------------------------


@pytest.mark.parametrize(
    ("charset", "cte"),
    [
        ("utf-8", "quoted-printable"),
        ("utf-8", "base64"),
        ("iso-8859-1", "quoted-printable"),
        ("iso-8859-1", "base64"),
    ],
)
def test_each_recipient_gets_an_instrumented_copy_and_every_other_part_keeps_its_bytes(
    site_for: Callable[..., Any], database_url: str, charset: str, cte: str
) -> None:
    headers = [("X-LM-Tag", "orders"), ("X-LM-Metadata-order", "1001")]
    raw = mail(charset=charset, cte=cte, cc=["Cid <cid@example.org>"], headers=headers)
    envelope = ["ann@example.org", "cid@example.org", "bea@example.org"]
    with upstream_server() as server, site_for(database_url) as site:
        code, reply = site.submit(raw, envelope)
        assert code == 250, reply
        (message,) = site.messages()
        assert reply == f"2.0.0 Ok: queued as {message.public_id}"
        stored = {c.recipient: c for c in site.copies()}
        assert drain(site.services, server) == 3
        codec = site.services.codec

    assert (message.source, message.from_email, message.from_name) == ("smtp", SENDER, "Shop")
    assert message.subject == "Grüße aus Köln"
    assert message.to == [{"email": "ann@example.org", "name": "Ann"}]
    assert message.cc == [{"email": "cid@example.org", "name": "Cid"}]
    assert message.bcc == [{"email": "bea@example.org", "name": None}]
    assert message.attachments == [
        {"filename": "order.pdf", "content_type": "application/pdf", "content_id": None,
         "size": len(PDF)}
    ]  # fmt: skip
    assert message.raw == without_controls(raw)
    assert {c.recipient: c.recipient_kind for c in stored.values()} == {
        "ann@example.org": "to",
        "cid@example.org": "cc",
        "bea@example.org": "bcc",
    }
    submitted = without_controls(raw)
    parts = walk(submitted)
    assert [p.content_type for p in parts] == ["text/plain", "text/html", "application/pdf"]
    for delivery in server.recorder.deliveries:
        (recipient,) = delivery.rcpt_tos
        copy = delivery.content
        assert delivery.mail_from == SENDER
        assert copy == stored[recipient].raw
        assert header_block(copy) == header_block(submitted)  # controls out, nothing else
        for part, sent in zip(parts, walk(copy), strict=True):
            if part.content_type != "text/html":
                assert (
                    copy[sent.header_start : sent.body_end]
                    == (submitted[part.header_start : part.body_end])
                )
            else:
                assert (sent.charset, sent.transfer_encoding) == (charset, cte)
        html_part = email.message_from_bytes(copy, policy=policy.default).get_body(("html",))
        assert html_part is not None
        assert html_part.get_content_charset() == charset
        html = html_part.get_content()
        assert "<p>Grüße aus Köln, Zoë!</p>" in html
        assert 'href="mailto:help@shop.example"' in html
        assert "https://shop.example/order" not in html
        found = TOKEN_URL.findall(html)
        assert [kind for kind, _ in found] == ["o", "c", "c"]  # pixel, honeypot, the link
        for kind, token in found:
            purposes = [Purpose.OPEN] if kind == "o" else [Purpose.CLICK, Purpose.HONEYPOT]
            (claims,) = [c for p in purposes if (c := codec.check(p, token)) is not None]
            assert claims[0] == stored[recipient].id
    assert sorted(d.rcpt_tos[0] for d in server.recorder.deliveries) == sorted(envelope)


def test_a_message_without_date_or_message_id_gets_them_as_an_msa_adds_them(
    site: Site,
) -> None:
    raw = b"From: shop@shop.example\r\nTo: ann@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
    code, reply = site.submit(raw)
    assert code == 250, reply
    (stored,) = site.messages()
    assert stored.raw.startswith(raw.split(b"\r\n\r\n")[0] + b"\r\n")
    added = email.message_from_bytes(stored.raw, policy=policy.default)
    assert added["Date"] == "Mon, 23 Nov 2026 12:00:00 +0000"  # the services' clock
    assert re.fullmatch(r"<[^@<>]+@shop\.example>", added["Message-ID"])
    assert stored.raw.endswith(b"\r\n\r\nHello\r\n")
    assert (stored.track_opens, stored.track_clicks) == (False, False)  # no HTML


def test_recipients_are_the_envelope_once_each_and_at_most_500(site: Site) -> None:
    with site.client() as client:
        client.mail(SENDER)
        for number in range(500):
            assert client.rcpt(f"r{number}@example.org")[0] == 250
        code, reply = client.rcpt("r500@example.org")
        assert (code, reply) == (452, b"4.5.3 Too many recipients: at most 500 per message")
        client.rset()
        code, _ = transact(client, mail(), ["ann@example.org", "ANN@example.org", "b@x.example"])
        assert code == 250
    assert [c.recipient for c in site.copies()] == ["ann@example.org", "b@x.example"]


def test_copies_go_out_from_the_envelope_sender_the_client_gave(site: Site) -> None:
    """MAIL FROM is the bounce address (a VERP one here, the null sender for a notice that
    must not bounce back): the copies' MAIL FROM upstream, whatever the From header says."""
    verp = "bounces+ann=example.org@mail.shop.example"
    with upstream_server() as server:
        with site.client() as client:
            for mail_from in (verp, ""):
                assert client.mail(mail_from)[0] == 250
                assert client.rcpt("ann@example.org")[0] == 250
                assert client.data(mail())[0] == 250
        assert drain(site.services, server) == 2
    assert [c.status for c in site.copies()] == ["delivered", "delivered"]
    assert sorted(d.mail_from for d in server.recorder.deliveries) == sorted([verp, "<>"])
    assert [m.from_email for m in site.messages()] == [SENDER, SENDER]  # the From header's


# --- 2. per-email settings through headers --------------------------------------------------


@pytest.mark.parametrize(
    ("route", "headers", "tracked"),
    [
        ((True, True), [], (True, True)),
        ((True, True), [("X-LM-Override-Track-Opens", "false")], (False, True)),
        (
            (True, True),
            [("X-LM-Override-Track-Opens", "false"), ("X-LM-Override-Track-Clicks", "false")],
            (False, False),
        ),
        ((False, False), [], (False, False)),
        ((False, False), [("X-LM-Override-Track-Clicks", "true")], (False, True)),
        (
            (False, False),
            [("x-lm-override-track-opens", "TRUE"), ("X-LM-Override-Track-Clicks", "1")],
            (True, True),
        ),
    ],
)
def test_override_headers_win_over_the_route_both_ways(
    site: Site,
    route: tuple[bool, bool],
    headers: list[tuple[str, str]],
    tracked: tuple[bool, bool],
) -> None:
    assert site.tenant.project.default_route_id is not None
    with site.services.db.write() as conn:
        tenancy.update_route(
            conn,
            site.tenant.project.default_route_id,
            site.services.clock.now(),
            track_opens=route[0],
            track_clicks=route[1],
        )
    code, reply = site.submit(mail(headers=headers))
    assert code == 250, reply
    (stored,) = site.messages()
    assert (stored.track_opens, stored.track_clicks) == tracked
    (copy,) = site.copies()
    assert b"X-LM-" not in copy.raw
    kinds = [kind for kind, _ in tokens_of(copy.raw)]
    assert ("o" in kinds) is tracked[0]
    assert kinds.count("c") == (2 if tracked[1] else 0)  # the honeypot and the link


def test_tag_metadata_and_route_show_on_the_message_and_its_events_not_in_the_copy(
    make_services: Callable[..., Services], sqlite_url: str
) -> None:
    """Through `serve`'s own path: the relay in the application's lifespan, the Team API."""
    services = make_services(sqlite_url)
    tenant = new_tenant(services.db, services.clock)
    with services.db.write() as conn:
        route = tenancy.create_route(
            conn,
            tenant.project.id,
            "Newsletter",
            tenancy.RouteType.BROADCAST,
            services.clock.now(),
            slug="newsletter",
        )
    relay = SmtpRelay(services, port=0)
    headers = [
        ("X-LM-Tag", "spring sale"),
        ("X-LM-Metadata-customer_id", "c-42"),
        ("X-LM-Metadata-Campaign", "=?utf-8?q?Fr=C3=BChling?="),
        ("X-Lettermint-Route", "newsletter"),
    ]
    team = {"authorization": f"Bearer {tenant.team_token}"}
    with serve_in_thread(create_app(services, relay=relay)) as base:
        site = Site(services, relay, tenant)
        code, reply = site.submit(mail(headers=headers))
        assert code == 250, reply
        message_id = reply.rpartition(" ")[2]
        (copy,) = site.copies()
        _pixel, _honeypot, (_, click) = tokens_of(copy.raw)
        answer = httpx.get(f"{base}/c/{click}", headers={"user-agent": CHROME})
        assert answer.status_code == 302  # straight from the link cache the accept primed
        services.clock.advance(seconds=6)  # type: ignore[attr-defined]
        assert promote(services) == 1
        record = httpx.get(f"{base}/v1/messages/{message_id}", headers=team).json()
        listed = httpx.get(f"{base}/v1/messages/{message_id}/events", headers=team).json()
        source = httpx.get(f"{base}/v1/messages/{message_id}/source", headers=team).content

    assert record["tag"] == "spring sale"
    assert record["metadata"] == {"customer_id": "c-42", "Campaign": "Frühling"}
    assert record["route_id"] == route.public_id
    assert [(e["event"], e["tag"]) for e in listed["data"]] == [
        ("queued", "spring sale"),  # Lettermint's name for message.created
        ("clicked", "spring sale"),
    ]
    assert source == copy.raw
    assert b"X-LM-" not in source
    assert b"X-Lettermint-Route" not in source


# --- 3. authentication and TLS --------------------------------------------------------------


def test_a_wrong_token_gets_535_and_mail_without_auth_530(site: Site) -> None:
    with site.client(login=False) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("app", "lm_" + "x" * 32)
        assert refused.value.smtp_code == 535
        assert refused.value.smtp_error == b"5.7.8 Authentication credentials invalid"
        code, reply = transact(client, mail())
        assert code == 530
        assert reply.startswith("5.7.0 Authentication required")
        client.login("anything", site.tenant.sending_token)  # any user name
        assert transact(client, mail())[0] == 250
    assert len(site.messages()) == 1


def test_a_project_with_smtp_turned_off_cannot_log_in_nor_go_on_sending(site: Site) -> None:
    with site.client() as client:  # logged in before
        with site.services.db.write() as conn:
            tenancy.update_project(
                conn, site.tenant.project.id, site.services.clock.now(), smtp_enabled=False
            )
        code, reply = transact(client, mail())
        assert (code, reply) == (550, "5.7.1 SMTP is turned off for this project (smtp_enabled)")
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        site.client()
    assert refused.value.smtp_code == 535
    assert b"SMTP is turned off for this project" in refused.value.smtp_error
    assert site.messages() == []


def test_where_tls_is_required_auth_waits_for_starttls(
    site_for: Callable[..., Any], sqlite_url: str, certificates: Certificates
) -> None:
    env = {
        "smtp_require_tls": "true",
        "smtp_tls_cert": str(certificates.cert),
        "smtp_tls_key": str(certificates.key),
    }
    with site_for(sqlite_url, **env) as site, site.client(login=False) as client:
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")
        code, reply = client.docmd("AUTH", "PLAIN")
        assert (code, reply[:9]) == (538, b"5.7.11 En")
        assert transact(client, mail())[0] == 530
        client.starttls(context=certificates.client_context())  # verified: localhost's CA
        client.ehlo("app.example")
        assert client.has_extn("auth")
        client.login("app", site.tenant.sending_token)
        assert transact(client, mail())[0] == 250


def test_without_a_certificate_starttls_offers_a_self_signed_one_clients_can_pin(
    site: Site,
) -> None:
    pem = site.relay.tls.self_signed_pem
    assert pem is not None
    with site.client(login=False) as client:
        client.starttls(context=ssl.create_default_context(cadata=pem.decode()))
        client.ehlo("app.example")
        client.login("app", site.tenant.sending_token)
        assert transact(client, mail())[0] == 250
    with site.client(login=False) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())  # the system's CAs: no


def test_the_default_tls_rule_and_certificate_settings(
    make_services: Callable[..., Services], sqlite_url: str, tmp_path: Path
) -> None:
    assert make_settings(sqlite_url).smtp_require_tls is False  # 127.0.0.1
    assert make_settings(sqlite_url, smtp_host="0.0.0.0").smtp_require_tls is True
    assert make_settings(sqlite_url, host="::1").smtp_require_tls is False
    assert make_settings(sqlite_url, smtp_host="::", smtp_require_tls="false").smtp_host == "::"
    defaults = make_settings(sqlite_url)
    assert (defaults.smtp_host, defaults.smtp_port) == ("127.0.0.1", 2525)
    with pytest.raises(ConfigError, match="MAILBEACON_SMTP_TLS_KEY is required with"):
        make_settings(sqlite_url, smtp_tls_cert="/etc/cert.pem")
    missing = make_settings(
        sqlite_url, smtp_tls_cert=str(tmp_path / "no.pem"), smtp_tls_key=str(tmp_path / "k")
    )
    with pytest.raises(ConfigError, match="MAILBEACON_SMTP_TLS_CERT: no such file"):
        server_tls(missing)
    (tmp_path / "bad.pem").write_text("not a certificate")
    bad = make_settings(
        sqlite_url, smtp_tls_cert=str(tmp_path / "bad.pem"), smtp_tls_key=str(tmp_path / "bad.pem")
    )
    with pytest.raises(ConfigError, match="must be a PEM certificate and its private key"):
        server_tls(bad)


# --- 4. refusals ----------------------------------------------------------------------------


def test_a_message_over_the_size_limit_gets_552_declared_or_not(
    site_for: Callable[..., Any], sqlite_url: str
) -> None:
    big = mail(html="<p>" + "x" * 3000 + "</p>")
    assert len(big) > 2048
    with site_for(sqlite_url, max_message_bytes="2048") as site, site.client() as client:
        assert client.esmtp_features["size"] == "2048"
        code, reply = transact(client, big, options=[f"SIZE={len(big)}"])
        assert code == 552
        assert reply.startswith("5.3.4 Message size exceeds fixed maximum message size")
        code, reply = transact(client, big)  # not declared: refused once DATA passes it
        assert (code, reply[:6]) == (552, "5.3.4 ")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib declares SIZE
            client.sendmail(SENDER, ["ann@example.org"], big)
        assert refused.value.smtp_code == 552
        small = mail(attach=False)
        assert len(small) <= 2048
        assert transact(client, small)[0] == 250  # the session goes on
        assert len(site.messages()) == 1


@pytest.mark.parametrize(
    ("raw", "code", "text"),
    [
        (b"Hello, this is not a message\r\n", 554, "5.6.0 Line 1 of the header is not a header"),
        (NO_FROM, 554, "5.6.0 The message has no From"),
        (
            mail(headers=[("X-LM-Override-Track-Clicks", "perhaps")]),
            554,
            "5.6.0 X-LM-Override-Track-Clicks must be true or false, got 'perhaps'",
        ),
        (mail(headers=[("X-LM-Tag", "a/b")]), 554, "5.6.0 X-LM-Tag 'a/b' is not a tag"),
        (KLINGON, 554, "5.6.0 MIME part 1 (text/html): unknown charset 'klingon'"),
        (
            mail(headers=[("X-Lettermint-Route", "nope")]),
            550,
            "5.7.1 The route 'nope' does not exist in this project.",
        ),
        (
            mail(headers=[("X-Lettermint-Route", "replies")]),
            550,
            "5.7.1 The route 'replies' is an inbound route: it cannot send.",
        ),
        (b"From: shop@shop.example\r\n\r\n" + b"x" * 1200 + b"\r\n", 554, "5.6.0 A line of the"),
    ],
)  # fmt: skip
def test_what_cannot_be_sent_is_refused_saying_why(
    site: Site, raw: bytes, code: int, text: str
) -> None:
    with site.services.db.write() as conn:
        tenancy.create_route(
            conn,
            site.tenant.project.id,
            "Replies",
            tenancy.RouteType.INBOUND,
            site.services.clock.now(),
            slug="replies",
        )
    with site.client() as client:
        answered, reply = transact(client, raw)
        assert answered == code
        assert reply.startswith(text)
        assert transact(client, mail())[0] == 250  # the session goes on
    assert len(site.messages()) == 1


def test_an_idempotency_key_accepts_a_message_once(site: Site) -> None:
    raw = mail(headers=[("Idempotency-Key", "order-1001")])
    first, second = site.submit(raw), site.submit(raw)
    assert first[0] == second[0] == 250
    message_id = first[1].rpartition("queued as ")[2]
    assert second[1] == (
        f"2.0.0 Ok: queued as {message_id} (accepted before with this Idempotency-Key)"
    )
    assert len(site.messages()) == 1
    code, reply = site.submit(raw, ["bea@example.org"])  # the same key, another envelope
    assert (code, reply) == (550, "5.7.0 This Idempotency-Key was used with a different "
                                  "message.")  # fmt: skip
    other = mail(headers=[("Idempotency-Key", "order-1001")], html="<p>changed</p>")
    assert site.submit(other)[0] == 550
    assert site.submit(mail(headers=[("Idempotency-Key", "order-1002")]))[0] == 250
    assert len(site.messages()) == 2


# --- 5. storage outages ---------------------------------------------------------------------


@contextlib.contextmanager
def outage(site: Site, database_url: str, *, patience_ms: int = 100) -> Iterator[None]:
    """The database cannot take writes until the block ends.

    SQLite: another connection holds the write lock (a backup, a long migration) and the
    services give up after ``patience_ms`` instead of 30 s. PostgreSQL: the database refuses
    connections and every existing one is terminated (a failover, a restart).
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        event.listen(
            site.services.db.engine,
            "connect",
            lambda dbapi, _: dbapi.execute(f"PRAGMA busy_timeout={patience_ms}"),
        )
        site.services.db.engine.dispose()
        holder = sqlite3.connect(str(url.database), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()
        return
    name = url.database
    with psycopg.connect(databases.ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_during_a_database_outage_the_client_gets_451_and_its_retry_succeeds(
    site_for: Callable[..., Any], database_url: str
) -> None:
    raw = mail(cc=["cid@example.org"])
    with site_for(database_url) as site, site.client() as client:
        with outage(site, database_url):
            code, reply = transact(client, raw, ["ann@example.org", "cid@example.org"])
            assert (code, reply) == (451, "4.3.0 Storage unavailable, try again later")
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(SENDER, ["ann@example.org", "cid@example.org"], raw)
            assert refused.value.smtp_code == 451
            if not site.services.db.is_sqlite:  # the token cannot be checked either
                with pytest.raises(smtplib.SMTPAuthenticationError) as auth:
                    site.client()
                assert auth.value.smtp_code == 454
        client.sendmail(SENDER, ["ann@example.org", "cid@example.org"], raw)  # the retry
        assert len(site.messages()) == 1
        assert [c.recipient for c in site.copies()] == ["ann@example.org", "cid@example.org"]
        with site.services.db.read() as conn:
            kinds = [e.type for e in conn.execute(select(events))]
        assert kinds == ["message.created"]


def test_stopping_lets_a_message_being_stored_finish_and_answers_it(
    site: Site, sqlite_url: str
) -> None:
    """Shutdown (serve's lifespan, `mailbeacon smtp` on SIGTERM) takes no new connections,
    and a client whose message is being stored still gets its 250."""
    replies: list[tuple[int, str]] = []
    with site.client() as client:
        with outage(site, sqlite_url, patience_ms=20_000):
            sending = threading.Thread(target=lambda: replies.append(transact(client, mail())))
            sending.start()
            deadline = time.monotonic() + 10
            while site.relay.handler.in_flight == 0:  # DATA reached the database, and waits
                assert time.monotonic() < deadline, "the message never reached the database"
                time.sleep(0.01)
            assert site.loop is not None
            port = site.relay.port
            stopping = asyncio.run_coroutine_threadsafe(site.relay.stop(timeout=20), site.loop)
            deadline = time.monotonic() + 10
            while site.relay.listening:  # the listening socket closes first
                assert time.monotonic() < deadline, "the relay still listens"
                time.sleep(0.01)
            with pytest.raises(ConnectionRefusedError):
                smtplib.SMTP("127.0.0.1", port, timeout=5)
            assert not stopping.done()  # it waits for the message being stored
        sending.join(30)  # the outage is over: the message is stored and answered
        stopping.result(30)
    assert replies[0][0] == 250
    assert len(site.messages()) == 1


# --- 6. swaks -------------------------------------------------------------------------------


def swaks(site: Site, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("swaks") is None:
        message = "swaks is not installed (apt-get install swaks; `make test` installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        [
            "swaks", "--server", "127.0.0.1", "--port", str(site.relay.port),
            "--from", SENDER, "--auth", "LOGIN", "--auth-user", "app",
            "--auth-password", password or site.tenant.sending_token, *args,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_swaks_submits_over_starttls_with_auth_login_and_headers(
    site_for: Callable[..., Any], sqlite_url: str, certificates: Certificates, tmp_path: Path
) -> None:
    eml = tmp_path / "order.eml"
    eml.write_bytes(mail(charset="iso-8859-1", cte="base64", headers=[("X-LM-Tag", "swaks")]))
    env = {
        "smtp_require_tls": "true",
        "smtp_tls_cert": str(certificates.cert),
        "smtp_tls_key": str(certificates.key),
    }
    with site_for(sqlite_url, **env) as site:
        result = swaks(
            site,
            "--to", "ann@example.org,bea@example.org",
            "--tls", "--tls-verify", "--tls-ca-path", str(certificates.ca),
            "--data", f"@{eml}",
            "--add-header", "X-LM-Metadata-via: swaks",
            "--add-header", "X-LM-Override-Track-Opens: false",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "<~  250 2.0.0 Ok: queued as" in result.stdout
        (message,) = site.messages()
        kept = site.copies()
    assert (message.tag, message.metadata, message.track_opens) == (
        "swaks",
        {"via": "swaks"},
        False,
    )
    assert [c.recipient for c in kept] == ["ann@example.org", "bea@example.org"]
    for copy in kept:
        assert b"X-LM-" not in copy.raw
        assert [kind for kind, _ in tokens_of(copy.raw)] == ["c", "c"]


def test_swaks_sees_the_mta_codes_for_a_bad_token_and_a_bad_message(site: Site) -> None:
    refused = swaks(site, "--to", "ann@example.org", password="lm_wrong")
    assert refused.returncode == 28  # swaks: AUTH failed
    assert "535 5.7.8 Authentication credentials invalid" in refused.stdout
    malformed = swaks(site, "--to", "ann@example.org", "--data", "not a message\\nat all\\n")
    assert malformed.returncode == 26  # swaks: the message was refused after DATA
    assert "554 5.6.0 Line 1 of the header is not a header field" in malformed.stdout
    assert site.messages() == []


# --- 7. the commands --------------------------------------------------------------------------


@pytest.fixture
def command_env(tmp_path: Path) -> dict[str, str]:
    return {
        "MAILBEACON_DATABASE_URL": databases.fresh_sqlite(tmp_path),
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_SMTP_PORT": str(free_port()),
    }


def project_in(env: dict[str, str]) -> Tenant:
    database = Database(env["MAILBEACON_DATABASE_URL"])
    try:
        return new_tenant(database, SystemClock())
    finally:
        database.dispose()


def test_mailbeacon_serve_runs_the_relay_and_delivers_what_it_accepts(
    command_env: dict[str, str], tmp_path: Path, certificates: Certificates
) -> None:
    tenant = project_in(command_env)
    port = int(command_env["MAILBEACON_SMTP_PORT"])
    team = {"authorization": f"Bearer {tenant.team_token}"}
    command_env |= {
        "MAILBEACON_SMTP_REQUIRE_TLS": "true",
        "MAILBEACON_SMTP_TLS_CERT": str(certificates.cert),
        "MAILBEACON_SMTP_TLS_KEY": str(certificates.key),
    }
    with serve_process(command_env, tmp_path) as (base, process):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("app.example")
            assert not client.has_extn("auth")  # not before STARTTLS
            client.starttls(context=certificates.client_context())
            client.login("app", tenant.sending_token)
            code, reply = transact(client, mail(headers=[("X-LM-Tag", "served")]))
        assert code == 250, reply
        message_id = reply.rpartition(" ")[2]
        deadline = time.monotonic() + 30
        while True:  # the outbound worker runs in the background: wait for its verdict
            record = httpx.get(f"{base}/v1/messages/{message_id}", headers=team).json()
            if record["recipients"][0]["status"] != "queued" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        output = process.stdout.read() if process.stdout else ""
    assert f"SMTP relay on smtp://127.0.0.1:{port}" in output.splitlines()[0]
    assert record["tag"] == "served"
    assert record["recipients"][0]["status"] == "processed"  # captured: the default upstream


def test_mailbeacon_smtp_says_which_setting_to_fix_when_it_cannot_listen(
    command_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in command_env.items():
        monkeypatch.setenv(name, value)
    assert main(["smtp", "--port", "0"]) == 2
    assert "mailbeacon: the SMTP port is 0 (MAILBEACON_SMTP_PORT)" in capsys.readouterr().err
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["smtp", "--port", str(port)]) == 2
    assert (
        f"mailbeacon: MAILBEACON_SMTP_PORT: the SMTP relay cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    ) in capsys.readouterr().err


def test_mailbeacon_smtp_runs_the_relay_alone_until_told_to_stop(
    command_env: dict[str, str], tmp_path: Path
) -> None:
    tenant = project_in(command_env)
    port = int(command_env["MAILBEACON_SMTP_PORT"])
    process = subprocess.Popen(
        [MAILBEACON, "smtp"],
        env={**os.environ, **command_env},
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # printed once the relay listens
        assert first.startswith(f"mailbeacon: SMTP relay listening on smtp://127.0.0.1:{port}")
        assert "AUTH with or without STARTTLS" in first  # loopback
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # no STARTTLS: loopback
            client.login("app", tenant.sending_token)
            code, reply = transact(client, mail())
        assert code == 250, reply
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        if process.stderr:
            process.stderr.close()
    database = command_env["MAILBEACON_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT source, status FROM messages").fetchall()
    assert rows == [("smtp", "queued")]  # stored; a serve on this database delivers it


# --- hostile input: refused as an MTA refuses it ---------------------------------------------


def nested_multiparts(depth: int) -> bytes:
    body = b"Content-Type: text/html\r\n\r\n<a href='https://shop.example/x'>x</a>\r\n"
    for level in range(depth):
        boundary = b"b%d" % level
        body = (
            b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary
        ) + (b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n")
    return b"From: shop@shop.example\r\nTo: ann@example.org\r\nSubject: x\r\n" + body


def test_mime_nested_past_the_limit_is_a_permanent_refusal(site: Site) -> None:
    code, reply = site.submit(nested_multiparts(2000))
    assert (code, reply[:5]) == (554, "5.6.0"), reply
    assert site.messages() == []
    code, reply = site.submit(nested_multiparts(20))  # ordinary depth still goes through
    assert code == 250, reply


@pytest.mark.parametrize(
    "address", ["not an address", "@example.org", "ann@", "ann@exa mple.org", "a\x7fb@example.org"]
)
def test_a_recipient_that_is_not_an_address_is_refused_at_rcpt(site: Site, address: str) -> None:
    with site.client() as client:
        client.mail(SENDER)
        client.send(f"RCPT TO:<{address}>\r\n".encode())
        code, reply = client.getreply()
    assert code in (501, 553), reply  # a syntax error, or a mailbox name not allowed
    assert site.messages() == []


def test_a_sender_that_is_not_an_address_is_refused_at_mail(site: Site) -> None:
    with site.client() as client:
        code, reply = client.mail("not an address")
    assert (code, reply[:5]) == (553, b"5.1.7"), reply


def raw_command(client: smtplib.SMTP, line: str) -> tuple[int, bytes]:
    client.send(line.encode() + b"\r\n")
    return client.getreply()


def test_eight_bit_addresses_need_smtputf8(site: Site) -> None:
    with site.client() as client:
        assert raw_command(client, f"MAIL FROM:<{SENDER}>")[0] == 250
        code, reply = raw_command(client, "RCPT TO:<zoe@exämple.org>")
        assert (code, reply[:5]) == (553, b"5.6.7"), reply
        client.rset()
        assert raw_command(client, f"MAIL FROM:<{SENDER}> SMTPUTF8")[0] == 250
        code, reply = raw_command(client, "RCPT TO:<zoë@example.org>")
        assert (code, reply[:5]) == (553, b"5.6.7"), reply  # a non-ASCII local part
        code, reply = raw_command(client, "RCPT TO:<zoe@exämple.org>")
        assert code == 250, reply
        code, reply = client.data(mail(to=["zoe@xn--exmple-cua.org"], attach=False))
        assert code == 250, reply
    assert [row.recipient for row in site.copies()] == ["zoe@xn--exmple-cua.org"]


def attempt(client: smtplib.SMTP, password: str) -> int:
    """One AUTH PLAIN (smtplib's login() would try every mechanism in turn); the reply code,
    or 0 once the server has closed the connection."""
    client.user, client.password = "app", password
    try:
        code, _ = client.auth("PLAIN", client.auth_plain)
    except smtplib.SMTPAuthenticationError as refused:
        return refused.smtp_code
    except smtplib.SMTPServerDisconnected:
        return 0
    return code


def test_wrong_passwords_are_slowed_then_the_session_is_closed(site: Site) -> None:
    from mailbeacon.core.auth_throttle import AuthThrottle

    site.relay.handler.throttle = AuthThrottle(base_delay=0.2, max_delay=0.4, budget=5)
    with contextlib.closing(site.client(login=False)) as client:
        started = time.monotonic()
        assert [attempt(client, "wrong") for _ in range(2)] == [535, 535]
        assert time.monotonic() - started >= 0.2  # the second answer waited
        assert attempt(client, "wrong") == 421  # the third: answered, then closed
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    # Two more failures from this address spend its budget (5): even the right token is
    # refused, and the connection closed, until the failures leave the window.
    with site.client(login=False) as other:
        assert attempt(other, "wrong") == 535
        assert attempt(other, "wrong") == 421
    with site.client(login=False) as other:
        assert attempt(other, site.tenant.sending_token) == 421


def test_a_header_that_decodes_to_nul_is_refused_for_good(site: Site) -> None:
    """PostgreSQL cannot store it and SQLite could: refused the same way on both, and as a
    permanent fault (a storage error would be 451 and retried forever)."""
    raw = (
        b"From: shop@shop.example\r\nTo: ann@example.org\r\n"
        b"Subject: =?utf-8?q?a=00b?=\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"
    )
    code, reply = site.submit(raw)
    assert (code, reply[:5]) == (554, "5.6.0"), reply
    assert "Subject" in reply
    assert site.messages() == []


@st.composite
def relayed_messages(draw: st.DrawFn) -> bytes:
    """Messages as careless and hostile clients write them: any text in the subject and the
    names (controls, NUL, line separators, any script), any HTML of tests/strategies.py, any
    transfer encoding, nested a few levels, sometimes raw 8-bit headers."""
    text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = SENDER
    message["To"] = "ann@example.org"
    subject = draw(text)
    html = draw(documents()).text
    cte = draw(st.sampled_from(["quoted-printable", "base64", "8bit"]))
    try:
        message["Subject"] = subject
    except ValueError:  # the email library refuses it: send it raw instead, as a client might
        message["X-Raw-Subject-Attempt"] = "1"
    message.set_content(html, subtype="html", cte=cte)
    raw = message.as_bytes()
    for _ in range(draw(st.integers(0, 3))):
        boundary = draw(st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True)).encode()
        head, _, body = raw.partition(b"\r\n\r\n")
        inner = b"\r\n".join(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-")
        )
        outer = b"\r\n".join(
            line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-")
        )
        raw = (
            outer + b"\r\nContent-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
            b"--"
            + boundary
            + b"\r\n"
            + inner
            + b"\r\n\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    if draw(st.booleans()):
        raw = (
            b"X-Note: "
            + draw(st.binary(max_size=30)).replace(b"\n", b"").replace(b"\r", b"")
            + b"\r\n"
            + raw
        )
    return raw


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=relayed_messages())
def test_any_message_gets_a_final_answer_never_a_temporary_one(site: Site, raw: bytes) -> None:
    """Whatever a client submits is either stored (250) or refused for good (5xx): a 4xx
    would have the client retry the same bytes forever."""
    before = len(site.messages())
    code, reply = site.submit(raw)
    assert code == 250 or 500 <= code < 600, reply
    assert len(site.messages()) == before + (code == 250)
