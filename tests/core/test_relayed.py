"""A relayed message: control headers read, cut out byte for byte, everything else kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.errors import RelayedMessageError
from mailbeacon.core.intake.policy import TrackingOverrides
from mailbeacon.core.intake.relayed import (
    add_fields,
    header_fields,
    read_relayed,
    recipient_kinds,
)
from mailbeacon.core.intake.submission import Address

# A message as a mailer writes it: folded headers, an encoded subject, a MIME body. The control
# headers are folded too (RFC 5322 2.2.3), one of them with a tab.
RAW = (
    b"Return-Path: <bounce@shop.example>\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1;\r\n"
    b"\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
    b"\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n"
    b"From: =?utf-8?q?Gr=C3=BC=C3=9Fe_Shop?= <shop@shop.example>\r\n"
    b"To: Ann <ann@example.org>, cid@example.org\r\n"
    b'Cc: "Bea, B." <bea@example.org>\r\n'
    b"Bcc: secret@example.org\r\n"
    b"Reply-To: help@shop.example\r\n"
    b"Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=\r\n"
    b"X-LM-Override-Track-Opens: false\r\n"
    b"X-LM-Tag: welcome series\r\n"
    b"X-Mailer: Symfony Mailer\r\n"
    b"X-LM-Metadata-user_id: 42\r\n"
    b"x-lm-metadata-Plan:\r\n"
    b"  gold\r\n"
    b"X-Lettermint-Route: broadcast\r\n"
    b"Idempotency-Key: order-1001-\r\n"
    b"\tconfirmation\r\n"
    b"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <1@shop.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-LM-Tag: not-a-control-header-in-a-part\r\n"
    b"\r\n"
    b"Hi\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b'<a href="https://shop.example/">Shop</a>\r\n'
    b"--b1--\r\n"
)
# What must remain: every line but the control headers' (and Bcc), as submitted.
CONTROL_LINES = re.compile(
    rb"(?im)^(x-lm-[^:\r\n]*|x-lettermint-route|idempotency-key|bcc)"
    rb":[^\n]*\n(?:[ \t][^\n]*\n)*"
)
HEAD, BODY = RAW.split(b"\r\n\r\n", 1)
KEPT = CONTROL_LINES.sub(b"", HEAD + b"\r\n") + b"\r\n" + BODY


def test_control_headers_are_read() -> None:
    message = read_relayed(RAW)
    assert message.overrides == TrackingOverrides(track_opens=False, track_clicks=None)
    assert message.tag == "welcome series"
    assert message.metadata == {"user_id": "42", "Plan": "gold"}
    assert message.route == "broadcast"
    assert message.idempotency_key == "order-1001-\tconfirmation"


def test_control_headers_and_bcc_are_cut_out_and_nothing_else_changes() -> None:
    message = read_relayed(RAW)
    assert message.raw == KEPT
    assert b"X-LM-Tag: not-a-control-header-in-a-part" in message.raw  # parts are not headers
    assert b"secret@example.org" not in message.raw
    assert message.raw.count(b"\r\n") == RAW.count(b"\r\n") - 9  # 7 fields, 2 folded


def test_the_record_fields_come_from_the_headers_decoded() -> None:
    message = read_relayed(RAW)
    assert message.sender == Address("shop@shop.example", "Grüße Shop")
    assert message.subject == "Grüße aus Köln"
    assert message.to == (Address("ann@example.org", "Ann"), Address("cid@example.org"))
    assert message.cc == (Address("bea@example.org", "Bea, B."),)
    assert message.reply_to == ("help@shop.example",)
    assert message.has_date
    assert message.has_message_id
    assert message.attachments == []


def test_envelope_recipients_are_labelled_by_the_headers_and_counted_once() -> None:
    message = read_relayed(RAW)
    envelope = ["ANN@example.org", "bea@example.org", "secret@example.org", "ann@example.org"]
    assert recipient_kinds(envelope, message) == [
        ("ANN@example.org", "to"),
        ("bea@example.org", "cc"),
        ("secret@example.org", "bcc"),
    ]


def test_attachments_are_listed_with_their_decoded_size() -> None:
    raw = (
        b"From: a@shop.example\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n'
        b"\r\n"
        b"--m\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"See attached.\r\n"
        b"--m\r\n"
        b"Content-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        b"Content-ID: <inv@shop.example>\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"JVBERi0xLjQK\r\n"
        b"--m--\r\n"
    )
    assert read_relayed(raw).attachments == [
        {
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "content_id": "inv@shop.example",
            "size": 9,
        }
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "The message is empty"),
        (b"\r\n\r\nHello", "no header fields"),
        (
            b"Hello there\r\n\r\nbody\r\n",
            "Line 1 of the header is not a header field: 'Hello there'",
        ),
        (b" folded\r\nFrom: a@b.example\r\n\r\n", "starts with a folded line"),
        (b"To: a@b.example\r\n\r\nx", "no From header"),
        (b"From: nobody\r\n\r\nx", "The From header holds no valid address"),
        (
            b"From: a@b.example\r\nX-LM-Override-Track-Clicks: maybe\r\n\r\n",
            "X-LM-Override-Track-Clicks must be true or false, got 'maybe'",
        ),
        (
            b"From: a@b.example\r\nX-LM-Tag: a\r\nX-LM-Tag: b\r\n\r\n",
            "X-LM-Tag is given with different values: 'a', 'b'",
        ),
        (b"From: a@b.example\r\nX-LM-Tag: no/slashes\r\n\r\n", "X-LM-Tag 'no/slashes' is not"),
        (b"From: a@b.example\r\nX-LM-Metadata-: 1\r\n\r\n", "needs a key"),
        (
            b"From: a@b.example\r\nIdempotency-Key: " + b"k" * 256 + b"\r\n\r\n",
            "Idempotency-Key must be 1 to 255 characters",
        ),
    ],
)
def test_what_cannot_be_taken_says_why(raw: bytes, problem: str) -> None:
    with pytest.raises(RelayedMessageError, match=re.escape(problem)):
        read_relayed(raw)


def test_a_header_repeated_with_one_value_is_fine_and_empty_ones_say_nothing() -> None:
    raw = b"From: a@b.example\r\nX-LM-Tag: a\r\nX-LM-Tag:  a\r\nX-Lettermint-Route:\r\n\r\n"
    message = read_relayed(raw)
    assert (message.tag, message.route) == ("a", None)


def test_missing_date_and_message_id_are_appended_to_the_header_block() -> None:
    raw = b"From: a@b.example\nSubject: x\n\nbody\n"
    message = read_relayed(raw)
    assert not message.has_date
    assert not message.has_message_id
    added = add_fields(raw, [("Date", "Mon, 23 Nov 2026 12:00:00 +0000"), ("Message-ID", "<1@b>")])
    assert added == (
        b"From: a@b.example\nSubject: x\n"
        b"Date: Mon, 23 Nov 2026 12:00:00 +0000\nMessage-ID: <1@b>\n\nbody\n"
    )
    assert add_fields(b"From: a@b.example", [("Date", "d")]) == b"From: a@b.example\nDate: d\n"
    assert add_fields(raw, []) is raw


# --- properties -----------------------------------------------------------------------------

NAMES = st.sampled_from(
    ["Subject", "X-Mailer", "To", "Received", "List-Unsubscribe", "X-LM-Other", "DKIM-Signature"]
)
CONTROLS = st.sampled_from(
    [
        "X-LM-Override-Track-Opens: true",
        "x-lm-override-track-clicks: FALSE",
        "X-LM-Tag: t1",
        "X-LM-Metadata-k: v",
        "X-Lettermint-Route: outgoing",
        "Idempotency-Key: k",
        "BCC: hidden@example.org",
    ]
)
VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.just(" "),
    max_size=30,
).map(str.strip)


FOLDS = st.sampled_from([" ", "\t", "   "])


@st.composite
def fields(draw: st.DrawFn, *, control: bool) -> bytes:
    """One header field, folded or not; a control field folded before its value."""
    if control:
        name, _, value = draw(CONTROLS).partition(": ")
        fold = draw(st.one_of(st.just(" "), FOLDS.map(lambda f: "\r\n" + f)))
        return f"{name}:{fold}{value}\r\n".encode()
    line = f"{draw(NAMES)}: {draw(VALUES)}"
    for fold in draw(st.lists(FOLDS, max_size=2)):
        line += f"\r\n{fold}{draw(VALUES) or 'x'}"
    return line.encode() + b"\r\n"


@given(
    st.lists(st.tuples(st.booleans(), st.data()), max_size=12),
    st.binary(max_size=200),
)
def test_removing_control_fields_keeps_every_other_byte(
    layout: list[tuple[bool, st.DataObject]], body: bytes
) -> None:
    kept = [b"From: sender@shop.example\r\n"]
    submitted = list(kept)
    for control, data in layout:
        field = data.draw(fields(control=control))
        submitted.append(field)
        if not control:
            kept.append(field)
    raw = b"".join(submitted) + b"\r\n" + body
    message = read_relayed(raw)
    assert message.raw == b"".join(kept) + b"\r\n" + body
    found, end = header_fields(message.raw)
    assert end == len(b"".join(kept))
    assert len(found) == len(kept)
