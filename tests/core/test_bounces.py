"""Reading bounces (RFC 3464 reports and the common text forms, as mail systems send them),
what a failure means for the address, and VERP return paths."""

from __future__ import annotations

from datetime import date

import pytest

from mailbeacon.core.bounces.dsn import read_bounce
from mailbeacon.core.bounces.failures import Failure, enhanced_status, from_reply, suppresses
from mailbeacon.core.bounces.verp import copy_of, is_ours, return_path
from mailbeacon.core.instrumentation.tokens import Keyring, TokenCodec


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


POSTFIX = crlf("""Return-Path: <>
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounce+x@b.example
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4A2B21C0A3.1700000000/mx.example.org"

This is a MIME-encapsulated message.

--4A2B21C0A3.1700000000/mx.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<ann@example.org>: host mail.example.org[203.0.113.5] said: 550 5.1.1
    <ann@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--4A2B21C0A3.1700000000/mx.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
X-Postfix-Queue-ID: 4A2B21C0A3
Arrival-Date: Mon, 23 Nov 2026 12:00:01 +0000 (UTC)

Final-Recipient: rfc822; ann@example.org
Original-Recipient: rfc822;ann@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <ann@example.org>: Recipient address rejected:
    User unknown in virtual mailbox table

--4A2B21C0A3.1700000000/mx.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Shop <shop@shop.example>
Subject: News

--4A2B21C0A3.1700000000/mx.example.org--
""")

GMAIL = crlf("""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bounce+x@b.example
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1"; report-type=delivery-status

--000000000000a1
Content-Type: multipart/related; boundary="000000000000a2"

--000000000000a2
Content-Type: multipart/alternative; boundary="000000000000a3"

--000000000000a3
Content-Type: text/plain; charset="UTF-8"

** Address not found **

Your message wasn't delivered to nobody@gmail.com because the address couldn't be found, or
is unable to receive mail.

--000000000000a3--
--000000000000a2--
--000000000000a1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Received-From-MTA: dns; mx.example.org
Arrival-Date: Mon, 23 Nov 2026 04:00:00 -0800 (PST)

Final-Recipient: rfc822; nobody@gmail.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.0.26, the server for the domain
 gmail.com.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
 Please try 550-5.1.1 double-checking the recipient's email address for typos or 550 5.1.1
 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser
Last-Attempt-Date: Mon, 23 Nov 2026 04:00:01 -0800 (PST)

--000000000000a1
Content-Type: message/rfc822

From: Shop <shop@shop.example>
Subject: News

Hi! Your code is 550 5.1.1 (not a reply: the original's own words).
--000000000000a1--
""")

EXCHANGE_ONLINE = crlf("""From: postmaster@outlook.com
To: bounce+x@b.example
Subject: Undeliverable: News
Content-Type: multipart/report; report-type=delivery-status; boundary="_b_"
MIME-Version: 1.0

--_b_
Content-Type: text/plain; charset="us-ascii"

Your message to bob@contoso.com couldn't be delivered.
bob wasn't found at contoso.com.

--_b_
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.com
Received-From-MTA: dns;mx.example.org
Arrival-Date: Mon, 23 Nov 2026 12:00:00 +0000

Final-Recipient: rfc822;bob@contoso.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP
 address lookup

--_b_--
""")

OLD_EXCHANGE_TEXT = crlf("""From: postmaster@contoso.com
To: bounce+x@b.example
Subject: Undeliverable: News
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

bob@contoso.com
The e-mail address you entered couldn't be found. Please check the recipient's e-mail
address and try to resend the message.

Diagnostic information for administrators:

Generating server: EXCH01.contoso.com

bob@contoso.com
#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##
""")

QMAIL = crlf("""From: MAILER-DAEMON@example.net
To: bounce+x@b.example
Subject: failure notice

Hi. This is the qmail-send program at example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<bob@example.net>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Subject: News
""")

EXIM = crlf("""From: Mail Delivery System <Mailer-Daemon@mx.example.com>
To: bounce+x@b.example
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  carol@example.com
    SMTP error from remote mail server after RCPT TO:<carol@example.com>:
    550 No Such User Here
""")

EXPIRED = crlf("""From: MAILER-DAEMON@mx.example.org
To: bounce+x@b.example
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; dan@example.org
Action: failed
Status: 4.4.7
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

--b--
""")

DELAYED = crlf("""From: MAILER-DAEMON@mx.example.org
To: bounce+x@b.example
Subject: Delayed Mail (still being retried)
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; dan@example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mail.example.org[203.0.113.9]:25: Connection timed out

--b--
""")

AUTO_REPLY = crlf("""From: Bob <bob@example.com>
To: bounce+x@b.example
Subject: Out of office

I am away until Monday. (Our ticket system answers 550 5.1.1 for unknown queues.)
""")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            POSTFIX,
            Failure(
                True,
                "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in "
                "virtual mailbox table",
                "5.1.1",
                "ann@example.org",
            ),
        ),
        (
            EXCHANGE_ONLINE,
            Failure(
                True,
                "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
                "lookup",
                "5.1.10",
                "bob@contoso.com",
            ),
        ),
        (
            OLD_EXCHANGE_TEXT,
            Failure(True, "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", "5.1.1"),
        ),
        (QMAIL, Failure(True, "Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1")),
        (EXIM, Failure(True, "550 No Such User Here", "")),
        (EXPIRED, Failure(False, "452 4.2.2 Mailbox full", "4.4.7", "dan@example.org")),
    ],
    ids=["postfix", "exchange-online", "exchange-text", "qmail", "exim", "expired"],
)
def test_each_form_of_bounce_gives_the_failure_and_the_remote_servers_words(
    raw: bytes, expected: Failure
) -> None:
    assert read_bounce(raw) == [expected]


def test_gmails_report_is_read_from_its_delivery_status_not_the_returned_message() -> None:
    [failure] = read_bounce(GMAIL)
    assert failure.permanent
    assert failure.status == "5.1.1"
    assert failure.recipient == "nobody@gmail.com"
    assert failure.reply.startswith("550-5.1.1 The email account that you tried to reach")


def test_a_delay_warning_and_an_auto_reply_report_no_failure() -> None:
    assert read_bounce(DELAYED) == []
    assert read_bounce(AUTO_REPLY) == []
    assert read_bounce(b"not a message at all") == []


@pytest.mark.parametrize(
    ("reply", "permanent", "suppressed"),
    [
        ("550 5.1.1 no such user", True, True),
        ("550 5.2.1 mailbox disabled", True, True),
        ("553 5.1.3 bad address syntax", True, True),
        ("550 no such user here", True, True),  # no enhanced status: the reply code says it
        ("552 5.2.2 mailbox full", True, False),
        ("554 5.7.1 rejected as spam", True, False),
        ("550 5.7.1 policy", True, False),
        ("553 5.1.8 sender domain does not exist", True, False),  # the sender's, not theirs
        ("552 5.3.4 message too big", True, False),
        ("554 transaction failed", True, False),
        ("451 4.1.1 try later", False, False),  # temporary: never
    ],
)
def test_only_a_permanent_failure_about_the_address_suppresses_it(
    reply: str, permanent: bool, suppressed: bool
) -> None:
    failure = from_reply(reply, permanent=permanent)
    assert failure.event == ("message.hard_bounced" if permanent else "message.soft_bounced")
    assert suppresses(failure) is suppressed


def test_enhanced_status_codes_are_found_whole() -> None:
    assert enhanced_status("550 5.1.10 RESOLVER") == "5.1.10"
    assert enhanced_status("version 15.1.2.3 said 550") == ""
    assert enhanced_status("#5.1.1") == "5.1.1"


def test_a_return_path_names_its_copy_and_a_forged_one_nothing() -> None:
    codec = TokenCodec(Keyring([(1, b"k" * 32)]))
    address = return_path(codec, 1234, date(2026, 11, 23), "bounces.example")
    local, _, domain = address.partition("@")
    assert domain == "bounces.example"
    assert local.startswith("bounce+")
    assert len(local) == 39
    assert copy_of(codec, address, "bounces.example") == 1234
    assert (
        copy_of(codec, address.replace("@bounces.example", "@BOUNCES.example"), "bounces.example")
        == 1234
    )
    assert copy_of(codec, address, "other.example") is None
    tampered = local[:-1] + ("A" if local[-1] != "A" else "B") + "@bounces.example"
    assert is_ours(tampered, "bounces.example")
    assert copy_of(codec, tampered, "bounces.example") is None
    assert copy_of(TokenCodec(Keyring([(1, b"z" * 32)])), address, "bounces.example") is None
    assert copy_of(codec, "shop@bounces.example", "bounces.example") is None
