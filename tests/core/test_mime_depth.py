"""Multipart nesting read without the email package's recursion."""

from __future__ import annotations

from mailbeacon.core.intake.mime_depth import nesting_depth

SIBLINGS = (
    b'From: a@b.example\r\nContent-Type: multipart/mixed;\r\n\tboundary="outer"\r\n\r\n'
    b"--outer\r\nContent-Type: multipart/alternative; boundary=one\r\n\r\n"
    b"--one\r\nContent-Type: text/plain\r\n\r\nhi\r\n--one--\r\n"
    b"--outer\r\nContent-Type: multipart/alternative; boundary=two\r\n\r\n"
    b"--two\r\nContent-Type: text/plain\r\n\r\nhi\r\n--two--\r\n"
    b"--outer--\r\n"
)


def test_siblings_do_not_add_depth_and_folded_boundaries_are_read() -> None:
    assert nesting_depth(SIBLINGS) == 2


def test_a_single_part_message_has_no_depth() -> None:
    assert nesting_depth(b"From: a@b.example\r\nSubject: x\r\n\r\n--not a boundary\r\n") == 0


def test_deep_nesting_is_counted_without_recursion_and_stops_early() -> None:
    body = b"Content-Type: text/plain\r\n\r\nx\r\n"
    for level in range(5000):
        b = b"b%d" % level
        body = b"Content-Type: multipart/mixed; boundary=" + b + b"\r\n\r\n--" + b + b"\r\n" + body
    assert nesting_depth(b"From: a@b.example\r\n" + body, stop_at=100) == 101
