"""What a suppression blocks (transactional mail included), the per-copy tracking opt-out,
and the one-click headers added to a copy byte for byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.intake.policy import (
    Because,
    RouteType,
    TrackingDecision,
    TrackingSettings,
    for_recipient,
    resolve_tracking,
)
from mailbeacon.core.intake.unsubscribe import with_one_click
from mailbeacon.core.suppressions import (
    REASONS,
    Suppression,
    applies_to_for,
    blocking,
    blocks,
    scope_key,
)

PROJECT, OTHER_PROJECT, ROUTE, OTHER_ROUTE = 1, 2, 10, 20


def suppression(
    reason: str, applies_to: str, scope: str = "team", project: int | None = None
) -> Suppression:
    route = ROUTE if scope == "route" else None
    return Suppression("s", "ann@example.org", reason, scope, applies_to, project, route)


# reason, applies_to -> (blocks broadcast, blocks transactional)
RULES = [
    ("unsubscribe", "broadcast", (True, False)),
    ("unsubscribe", "all", (True, False)),  # an unsubscribe never stops transactional mail
    ("manual", "broadcast", (True, False)),
    ("manual", "all", (True, True)),
    ("hard_bounce", "broadcast", (True, True)),  # the address is gone, whatever the category
    ("hard_bounce", "all", (True, True)),
    ("spam_complaint", "broadcast", (True, True)),
    ("spam_complaint", "all", (True, True)),
]


def test_transactional_mail_is_blocked_only_by_bounces_complaints_and_all_mail() -> None:
    for reason, applies_to, (broadcast, transactional) in RULES:
        found = suppression(reason, applies_to)
        got = tuple(
            blocks(found, project_id=PROJECT, route_id=ROUTE, transactional=flag)
            for flag in (False, True)
        )
        assert got == (broadcast, transactional), (reason, applies_to)


def test_a_scope_blocks_its_own_project_or_route_only() -> None:
    on_project = suppression("manual", "all", "project", PROJECT)
    on_route = suppression("manual", "all", "route", PROJECT)
    for found, where, expected in (
        (on_project, (PROJECT, ROUTE), True),
        (on_project, (PROJECT, OTHER_ROUTE), True),
        (on_project, (OTHER_PROJECT, ROUTE), False),
        (on_route, (PROJECT, ROUTE), True),
        (on_route, (PROJECT, OTHER_ROUTE), False),
    ):
        project_id, route_id = where
        assert blocks(found, project_id=project_id, route_id=route_id, transactional=False) is (
            expected
        )


def test_the_first_blocking_suppression_of_each_address_is_the_reason_given() -> None:
    weak = suppression("unsubscribe", "broadcast")
    strong = suppression("hard_bounce", "all")
    stopped = blocking([weak, strong], project_id=PROJECT, route_id=ROUTE, transactional=True)
    assert stopped == {"ann@example.org": strong}
    assert not blocking([weak], project_id=PROJECT, route_id=ROUTE, transactional=True)


def test_vocabulary_defaults_and_scope_keys() -> None:
    assert REASONS["complaint"] == REASONS["spam_complaint"] == "spam_complaint"
    assert applies_to_for("manual", None) == "all"
    assert applies_to_for("unsubscribe", None) == "broadcast"
    assert applies_to_for("manual", "broadcast") == "broadcast"
    assert scope_key("team", 3, 4) == "team"
    assert scope_key("project", 3, None) == "project:3"
    assert scope_key("route", 3, 4) == "route:4"


def test_an_opted_out_recipient_gets_neither_pixel_nor_links_whatever_the_route() -> None:
    tracked = resolve_tracking(RouteType.BROADCAST, TrackingSettings(True, True), has_html=True)
    assert for_recipient(tracked, opted_out=False) is tracked
    assert for_recipient(tracked, opted_out=True) == TrackingDecision(
        False, False, Because.OPTED_OUT, Because.OPTED_OUT
    )
    untracked = resolve_tracking(RouteType.BROADCAST, TrackingSettings(False, False), has_html=True)
    assert for_recipient(untracked, opted_out=True) is untracked  # nothing to take away


URL = "https://p1.t.example/u/" + "A" * 32
LINES = st.lists(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}: [ -~]{0,60}", fullmatch=True).filter(
        lambda line: not line.lower().startswith("list-unsubscribe")
    ),
    min_size=1,
    max_size=8,
)


@given(LINES, st.binary(max_size=300), st.sampled_from([b"\r\n", b"\n"]))
def test_the_one_click_headers_are_appended_and_every_other_byte_stays(
    lines: list[str], body: bytes, newline: bytes
) -> None:
    head = newline.join(line.encode() for line in lines) + newline
    raw = head + newline + body
    added = (
        f"List-Unsubscribe: <{URL}>".encode()
        + newline
        + b"List-Unsubscribe-Post: List-Unsubscribe=One-Click"
        + newline
    )
    assert with_one_click(raw, URL) == head + added + newline + body


def test_a_message_with_its_own_list_unsubscribe_keeps_it_alone() -> None:
    raw = b"From: a@b.example\r\nlist-unsubscribe: <mailto:u@b.example>\r\n\r\nHi\r\n"
    assert with_one_click(raw, URL) == raw
