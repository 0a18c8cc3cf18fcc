"""The upstream sender against a real SMTP server (aiosmtpd): transactions, reply codes, TLS,
AUTH and the session pool."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mailbeacon.config import Upstream, parse_upstream
from mailbeacon.smtp.upstream import Capture, Outcome, SmtpSender, make_sender
from tests.support.server import free_port
from tests.support.smtp_server import Certificates, make_certificates, upstream_server

pytestmark = pytest.mark.anyio

SENDER = "shop@shop.example"
RAW = (
    b"From: Shop <shop@shop.example>\r\n"
    b"To: ann@example.org\r\n"
    b"Subject: Hi\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b".a line that starts with a dot survives dot-stuffing\r\n"
    b".\r\n"
    b"caf\xc3\xa9\r\n"
)
USER, PASSWORD = "mailer", "s3cret-pa55"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("certificates")))


async def test_a_copy_is_one_transaction_carrying_exactly_its_bytes() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream())
        result = await sender.send(SENDER, "ann@example.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED
    assert result.detail.startswith("250 ")
    (delivery,) = server.recorder.deliveries
    assert delivery.mail_from == SENDER
    assert delivery.rcpt_tos == ["ann@example.org"]
    assert delivery.content == RAW
    assert sorted(delivery.mail_options) == ["BODY=8BITMIME", f"SIZE={len(RAW)}"]


@pytest.mark.parametrize(
    ("command", "reply", "outcome"),
    [
        ("rcpt", "450 4.2.1 mailbox busy, try later", Outcome.TEMPORARY),
        ("rcpt", "550 5.1.1 no such user", Outcome.PERMANENT),
        ("data", "452 4.3.1 insufficient storage", Outcome.TEMPORARY),
        ("data", "554 5.7.1 rejected as spam", Outcome.PERMANENT),
        ("mail", "451 4.3.0 try later", Outcome.TEMPORARY),
        ("mail", "553 5.7.1 sender not allowed", Outcome.PERMANENT),
        ("mail", "421 4.7.0 closing connection", Outcome.TEMPORARY),
    ],
)
async def test_4xx_replies_are_temporary_and_5xx_permanent(
    command: str, reply: str, outcome: Outcome
) -> None:
    with upstream_server() as server:
        if command == "mail":
            server.recorder.reply_to_mail(reply)
        elif command == "rcpt":
            server.recorder.reply_to_rcpt("ann@example.org", reply)
        else:
            server.recorder.reply_to_data("ann@example.org", reply)
        sender = SmtpSender(server.upstream())
        result = await sender.send(SENDER, "ann@example.org", RAW)
        await sender.aclose()
    assert result.outcome is outcome
    assert result.detail == reply
    assert server.recorder.deliveries == []


async def test_a_refused_connection_is_temporary() -> None:
    sender = SmtpSender(Upstream(capture=False, host="127.0.0.1", port=free_port(), tls="none"))
    result = await sender.send(SENDER, "ann@example.org", RAW)
    assert result.outcome is Outcome.TEMPORARY
    assert "SMTPConnectError" in result.detail


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_then_auth_against_a_private_ca(
    certificates: Certificates, mechanism: str
) -> None:
    with upstream_server(
        "starttls", certificates=certificates, credentials=(USER, PASSWORD), mechanisms=(mechanism,)
    ) as server:
        upstream = server.upstream(username=USER, password=PASSWORD)
        sender = SmtpSender(upstream, tls_context=certificates.client_context())
        result = await sender.send(SENDER, "ann@example.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED, result.detail
    (delivery,) = server.recorder.deliveries
    assert delivery.tls
    assert delivery.login == USER
    assert delivery.content == RAW
    assert server.recorder.logins == [(USER, True)]


async def test_implicit_tls_from_an_smtps_url(certificates: Certificates) -> None:
    with upstream_server(
        "smtps", certificates=certificates, credentials=(USER, PASSWORD)
    ) as server:
        upstream = parse_upstream(
            f"smtps://{USER}:{PASSWORD}@127.0.0.1:{server.port}", "MAILBEACON_UPSTREAM"
        )
        sender = SmtpSender(upstream, tls_context=certificates.client_context())
        result = await sender.send(SENDER, "ann@example.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED, result.detail
    (delivery,) = server.recorder.deliveries
    assert delivery.tls
    assert delivery.login == USER


async def test_a_wrong_password_is_temporary_not_a_bounce(certificates: Certificates) -> None:
    """535 is about this instance's configuration, not the message: the copy waits for the
    operator to fix the password instead of failing for good (Postfix's default too)."""
    with upstream_server(
        "starttls", certificates=certificates, credentials=(USER, PASSWORD)
    ) as server:
        upstream = server.upstream(username=USER, password="wrong")
        sender = SmtpSender(upstream, tls_context=certificates.client_context())
        result = await sender.send(SENDER, "ann@example.org", RAW)
    assert result.outcome is Outcome.TEMPORARY
    assert result.detail.startswith("535 ")
    assert "SMTPAuthenticationError" in result.detail
    assert server.recorder.deliveries == []
    assert (USER, False) in server.recorder.logins


async def test_a_certificate_nobody_trusts_is_refused(certificates: Certificates) -> None:
    with upstream_server("starttls", certificates=certificates) as server:
        sender = SmtpSender(server.upstream())  # the system's CAs do not know the test CA
        result = await sender.send(SENDER, "ann@example.org", RAW)
    assert result.outcome is Outcome.TEMPORARY
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail
    assert server.recorder.deliveries == []


async def test_required_starttls_never_falls_back_to_clear_text() -> None:
    with upstream_server("plain") as server:
        upstream = Upstream(capture=False, host="127.0.0.1", port=server.port, tls="starttls")
        result = await SmtpSender(upstream).send(SENDER, "ann@example.org", RAW)
    assert result.outcome is Outcome.TEMPORARY
    assert "STARTTLS" in result.detail.upper()
    assert server.recorder.deliveries == []


async def test_an_international_address_goes_with_smtputf8() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream())
        result = await sender.send(SENDER, "zoë@exämple.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert server.recorder.deliveries[0].rcpt_tos == ["zoë@exämple.org"]


async def test_an_international_address_is_refused_without_smtputf8() -> None:
    """The address cannot be written in ASCII: no later attempt would do better."""
    with upstream_server(smtputf8=False) as server:
        result = await SmtpSender(server.upstream()).send(SENDER, "zoë@exämple.org", RAW)
    assert result.outcome is Outcome.PERMANENT
    assert "SMTPUTF8" in result.detail
    assert server.recorder.deliveries == []


# --- the session pool -------------------------------------------------------------------------


async def test_one_session_carries_many_transactions() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream(), max_connections=1)
        results = [await sender.send(SENDER, f"r{i}@example.org", RAW) for i in range(5)]
        await sender.aclose()
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert server.recorder.connections == 1
    assert sender.sessions_opened == 1
    assert [d.connection for d in server.recorder.deliveries] == [1] * 5


async def test_the_pool_never_opens_more_than_max_connections() -> None:
    with upstream_server() as server:
        server.recorder.hold_data_until(2)
        sender = SmtpSender(server.upstream(), max_connections=2)
        sends = [sender.send(SENDER, f"r{i}@example.org", RAW) for i in range(8)]
        results = await asyncio.gather(*sends)
        await sender.aclose()
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert len(server.recorder.deliveries) == 8
    assert server.recorder.peak == 2
    assert server.recorder.connections == 2


async def test_a_refused_recipient_leaves_the_session_usable() -> None:
    with upstream_server() as server:
        server.recorder.reply_to_rcpt("bob@example.org", "550 5.1.1 no such user")
        sender = SmtpSender(server.upstream(), max_connections=1)
        refused = await sender.send(SENDER, "bob@example.org", RAW)
        taken = await sender.send(SENDER, "ann@example.org", RAW)
        await sender.aclose()
    assert refused.outcome is Outcome.PERMANENT
    assert taken.outcome is Outcome.DELIVERED
    assert server.recorder.connections == 1
    assert [d.rcpt_tos for d in server.recorder.deliveries] == [["ann@example.org"]]


async def test_a_session_the_server_dropped_is_replaced_and_the_copy_sent_once() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream(), max_connections=1)
        await sender.send(SENDER, "ann@example.org", RAW)
        server.drop_connections()
        result = await sender.send(SENDER, "bob@example.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert len(server.recorder.delivered_to("bob@example.org")) == 1
    assert server.recorder.connections == 2


async def test_a_421_to_mail_on_a_reused_session_retries_on_a_fresh_one() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream(), max_connections=1)
        await sender.send(SENDER, "ann@example.org", RAW)
        server.recorder.reply_to_mail("421 4.7.0 too many messages in this session")
        result = await sender.send(SENDER, "bob@example.org", RAW)
        await sender.aclose()
    assert result.outcome is Outcome.DELIVERED, result.detail
    assert [d.connection for d in server.recorder.deliveries] == [1, 2]


async def test_a_session_is_retired_after_max_messages() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream(), max_connections=1, max_messages=2)
        for i in range(5):
            await sender.send(SENDER, f"r{i}@example.org", RAW)
        await sender.aclose()
    assert [d.connection for d in server.recorder.deliveries] == [1, 1, 2, 2, 3]


async def test_a_session_idle_too_long_is_not_reused() -> None:
    with upstream_server() as server:
        sender = SmtpSender(server.upstream(), max_connections=1, idle_seconds=0)
        await sender.send(SENDER, "ann@example.org", RAW)
        await sender.send(SENDER, "bob@example.org", RAW)
        await sender.aclose()
    assert [d.connection for d in server.recorder.deliveries] == [1, 2]


# --- choosing a sender ------------------------------------------------------------------------


async def test_capture_keeps_mail_local() -> None:
    sender = make_sender(parse_upstream("capture", "MAILBEACON_UPSTREAM"))
    assert isinstance(sender, Capture)
    result = await sender.send(SENDER, "ann@example.org", RAW)
    assert result.outcome is Outcome.CAPTURED


def test_an_smtp_url_makes_an_smtp_sender() -> None:
    upstream = parse_upstream("smtp://u:p@mail.example:2525", "MAILBEACON_UPSTREAM")
    sender = make_sender(upstream, max_connections=3)
    assert isinstance(sender, SmtpSender)
    assert sender.name == "smtp://u@mail.example:2525 (starttls)"
