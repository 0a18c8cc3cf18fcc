"""Lettr's lists, ``GET /api/emails`` and ``GET /api/emails/events``, through the official SDK."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import lettr
import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.smtp.upstream import Capture, Outcome, Result
from tests.support.lettr import EACH_DB, Api
from tests.support.workers import deliver


def clock_of(api: Api) -> FixedClock:
    clock = api.services.clock
    assert isinstance(clock, FixedClock)
    return clock


def every_page(fetch: Callable[..., Any], **filters: Any) -> list[list[Any]]:
    """The results of each page, following ``next_cursor`` until it is null."""
    pages, cursor = [], None
    while True:
        page = fetch(cursor=cursor, **filters)
        pages.append(page.results)
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


class Refusing:
    name = "refusing"

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        return Result(Outcome.PERMANENT, "550 5.1.1 no such user")


# --- GET /emails --------------------------------------------------------------------------------


@EACH_DB
def test_emails_are_listed_newest_first_one_per_recipient_across_pages(api: Api) -> None:
    sent = []
    for n in range(3):
        clock_of(api).advance(minutes=1)
        to = [f"ann{n}@example.org", f"bob{n}@example.org"]
        sent.append(api.send(to=to, subject=f"Order {n}", tag="orders").request_id)
    pages = every_page(api.client.emails.list, per_page=4)
    assert [len(page) for page in pages] == [4, 2]
    listed = [item for page in pages for item in page]
    assert [(e.request_id, e.rcpt_to) for e in listed] == [
        (sent[n], f"{who}{n}@example.org") for n in (2, 1, 0) for who in ("ann", "bob")
    ]
    assert {e.type for e in listed} == {"injection"}
    first = api.client.emails.list(per_page=4)
    assert (first.total_count, first.per_page) == (6, 4)
    # The same items, event ids included, as the email's own events.
    detail = api.client.emails.get(sent[2])
    assert [e.event_id for e in detail.events] == [e.event_id for e in listed[:2]]
    one = listed[0]
    assert one.subject == "Order 2"
    assert (one.friendly_from, one.sending_domain) == ("shop@shop.example", "shop.example")
    assert (one.click_tracking, one.open_tracking, one.transactional) == (True, True, True)
    assert one.recipient_domain == "example.org"
    assert one.injection_time == one.timestamp


@EACH_DB
def test_emails_are_filtered_by_recipient_and_window(api: Api) -> None:
    early = api.send(to=["ann@example.org", "bob@example.org"]).request_id
    clock_of(api).advance(days=2)
    late = api.send(to=["Bob@Example.org"]).request_id
    bobs = api.client.emails.list(recipients="bob@example.org")
    assert [(e.request_id, e.rcpt_to) for e in bobs.results] == [
        (late, "bob@example.org"),
        (early, "bob@example.org"),
    ]
    assert bobs.total_count == 2
    recent = api.client.emails.list(from_date="2026-11-24")
    assert [e.request_id for e in recent.results] == [late]
    assert recent.date_from == "2026-11-24T00:00:00.000Z"
    older = api.client.emails.list(to_date="2026-11-23")
    assert {e.request_id for e in older.results} == {early}
    assert older.total_count == 2


def test_emails_older_than_ten_days_are_left_out_unless_asked_for(api: Api) -> None:
    old = api.send().request_id
    clock_of(api).advance(days=11)
    assert api.client.emails.list().results == []
    asked = api.client.emails.list(from_date="2026-11-01")
    assert [e.request_id for e in asked.results] == [old]


@EACH_DB
def test_another_projects_emails_are_never_listed(api: Api) -> None:
    mine = api.send().request_id
    other = api.other()
    theirs = other.emails.send(
        from_email="x@other.example", to=["zed@example.org"], subject="S", text="t"
    ).request_id
    assert [e.request_id for e in api.client.emails.list().results] == [mine]
    assert [e.request_id for e in other.emails.list().results] == [theirs]
    # A cursor of this project's list reads nothing of it through another key.
    api.send()
    cursor = api.client.emails.list(per_page=1).next_cursor
    assert cursor is not None
    assert {e.request_id for e in other.emails.list(cursor=cursor).results} <= {theirs}
    events = other.emails.list_events(transmissions=mine)
    assert (events.results, events.total_count) == ([], 0)
    other.close()


# --- GET /emails/events -------------------------------------------------------------------------


@EACH_DB
def test_events_are_listed_newest_first_across_pages(api: Api) -> None:
    first = api.send(to=["ann@example.org", "bob@example.org", "cy@example.org"]).request_id
    clock_of(api).advance(minutes=5)
    asyncio.run(deliver(api.services, Capture()))
    clock_of(api).advance(minutes=5)
    second = api.send(to=["dee@example.org"]).request_id
    whole = api.client.emails.list_events(per_page=100)
    assert [(e.type, e.request_id) for e in whole.results] == [
        ("injection", second),
        *[("delivery", first)] * 3,
        *[("injection", first)] * 3,
    ]
    assert whole.total_count == 7
    assert (whole.date_to, whole.date_from) == (
        "2026-11-23T12:10:00.000Z",
        "2026-11-13T12:10:00.000Z",
    )
    pages = every_page(api.client.emails.list_events, per_page=2)
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert [e.event_id for page in pages for e in page] == [e.event_id for e in whole.results]
    assert [e.queue_time for e in whole.results[1:4]] == [300_000] * 3


@EACH_DB
def test_events_are_filtered_by_type_recipient_and_transmission(api: Api) -> None:
    first = api.send(to=["ann@example.org", "bob@example.org"]).request_id
    second = api.send(to=["bob@example.org"]).request_id
    asyncio.run(deliver(api.services, Capture()))
    deliveries = api.client.emails.list_events(events=["delivery"])
    assert [e.type for e in deliveries.results] == ["delivery"] * 3
    assert deliveries.total_count == 3
    anns = api.client.emails.list_events(recipients=["ANN@example.org"])
    assert sorted(e.type for e in anns.results) == ["delivery", "injection"]
    assert {e.rcpt_to for e in anns.results} == {"ann@example.org"}
    assert anns.total_count == 2
    of_second = api.client.emails.list_events(transmissions=second)
    assert {e.request_id for e in of_second.results} == {second}
    assert of_second.total_count == 2
    both = api.client.emails.list_events(
        events=["injection", "open"], recipients=["bob@example.org"]
    )
    assert [(e.type, e.request_id) for e in both.results] == [
        ("injection", second),
        ("injection", first),
    ]
    never = api.client.emails.list_events(events=["spam_complaint", "delay"])
    assert (never.results, never.total_count) == ([], 0)


def test_bounces_are_filtered_by_class(api: Api) -> None:
    api.send()
    asyncio.run(deliver(api.services, Refusing()))
    (bounce,) = api.client.emails.list_events(events=["bounce"]).results
    assert (bounce.bounce_class, bounce.error_code) == (1, "550")
    assert [e.event_id for e in api.client.emails.list_events(bounce_classes="1,10").results] == [
        bounce.event_id
    ]
    assert api.client.emails.list_events(bounce_classes="24").results == []


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4Il0"}, "cursor"),  # base64 JSON of the wrong shape
        ({"cursor": "WyJ4IiwxLDBd"}, "cursor"),  # the right shape, but no instant
        ({"from_date": "yesterday"}, "from"),
        ({"from_date": "2026-11-20", "to_date": "2026-11-10"}, "from"),
        ({"events": ["opened"]}, "events"),
        ({"recipients": ["nobody"]}, "recipients"),
        ({"bounce_classes": "hard"}, "bounce_classes"),
    ],
)
def test_bad_filters_are_a_422_naming_the_parameter(
    api: Api, call: dict[str, Any], field: str
) -> None:
    method = api.client.emails.list_events
    if field not in ("events", "bounce_classes"):
        listed = {k: v[0] if isinstance(v, list) else v for k, v in call.items()}
        with pytest.raises(lettr.ValidationError) as caught:
            api.client.emails.list(**listed)
        assert field in caught.value.errors
    with pytest.raises(lettr.ValidationError) as caught:
        method(**call)
    assert field in caught.value.errors
    body = api.get("/emails/events?" + "&".join(f"{k}=x" for k in ("per_page",))).json()
    assert body["error_code"] == "validation_error"
    assert body["errors"] == {"per_page": [body["message"]]}


def test_a_forged_cursor_with_a_naive_time_reads_as_utc(api: Api) -> None:
    """Not a 500: the key's time is taken as UTC, and the query still only sees this project."""
    sent = api.send().request_id
    forged = base64.urlsafe_b64encode(b'["2026-11-23T13:00:00",999999,0]').decode().rstrip("=")
    assert [e.request_id for e in api.client.emails.list(cursor=forged).results] == [sent]
    assert api.client.emails.list_events(cursor=forged).results[0].request_id == sent
