"""The promoter, on SQLite and PostgreSQL: every observation becomes one event with its
verdict, the daily counters move, and a pass sees what earlier passes promoted, whether this
promoter promoted it or another one did."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, func, select

from mailbeacon.app import Services
from mailbeacon.clock import FixedClock
from mailbeacon.store import analytics_rollups, link_report, rollups
from mailbeacon.store.observations import KIND_CLICK, KIND_HONEYPOT, KIND_OPEN
from mailbeacon.store.schema import analytics_hourly, events, stats_daily
from mailbeacon.store.schema import unpromoted as waiting
from mailbeacon.workers.promoter import Promoter, promoter_worker
from tests.support import hits as stored_hits
from tests.support import link_figures
from tests.support.delivered import delivered_copies
from tests.support.tenants import Tenant, new_tenant

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PERSON = '{"accept-language":"en-GB"}'
HTML = "<body>" + "".join(f'<a href="https://shop.example/{i}">Item {i}</a>' for i in range(5))
DELIVERED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the clock fixture's START


@pytest.fixture
def services(make_services: Callable[..., Services], database_url: str) -> Services:
    made = make_services(database_url)
    made.clock.advance(hours=1)  # everything observed below has settled
    return made


def promoter_of(services: Services, kind: type[Promoter] = Promoter) -> Promoter:
    """A promoter as the composition root makes one (app.py)."""
    return kind(services.db, services.clock, services.settings.settle_seconds)


def send(services: Services, tenant: Tenant, recipients: int = 1) -> list[int]:
    """A message with five tracked links, delivered at DELIVERED; its copies' ids."""
    addresses = [f"r{i}@x.example" for i in range(recipients)]
    return delivered_copies(services, tenant, HTML, addresses, DELIVERED)


def observe(
    services: Services,
    copy_id: int,
    kind: int,
    after: timedelta,
    *,
    link: int = 0,
    agent: str = CHROME,
    headers: str = PERSON,
    method: str = "GET",
    ip: str = "203.0.113.7",
) -> None:
    at_us = int((DELIVERED + after).timestamp() * 1_000_000)
    with services.db.write() as conn:
        stored_hits.store(
            conn,
            [
                {
                    "copy_id": copy_id,
                    "kind": kind,
                    "link_index": link,
                    "at_us": at_us,
                    "method": method,
                    "host": "t.example.test",
                    "ip": ip,
                    "user_agent": agent,
                    "headers": headers,
                }
            ],
        )


def promoted(services: Services) -> list[Row[Any]]:
    with services.db.read() as conn:
        query = select(events).where(events.c.observation_id.is_not(None))
        return list(conn.execute(query.order_by(events.c.observation_id)))


def unpromoted(services: Services) -> int:
    with services.db.read() as conn:
        query = select(func.count()).select_from(waiting)
        return int(conn.execute(query).scalar_one())


def test_every_observation_becomes_one_event_with_its_verdict(services: Services) -> None:
    (copy_id,) = send(services, new_tenant(services.db, services.clock))
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=5))
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=6))
    observe(services, copy_id, KIND_CLICK, timedelta(minutes=7), link=3)
    observe(services, copy_id, KIND_OPEN, timedelta(seconds=4), agent="Mozilla/5.0", headers="{}")
    observe(services, copy_id, KIND_CLICK, timedelta(minutes=9), link=1, method="HEAD")
    observe(services, copy_id, KIND_HONEYPOT, timedelta(minutes=20), headers="{}")
    assert promoter_of(services).run_once() == 6
    assert unpromoted(services) == 0
    person_open, second_open, click, prefetch, probe, trap = promoted(services)
    assert [e.type for e in (person_open, second_open, prefetch)] == ["message.opened"] * 3
    assert [person_open.first, second_open.first, prefetch.first] == [True, False, None]
    assert (person_open.classification, person_open.counts_for_metrics) == ("genuine", True)
    assert (click.type, click.first, click.link_index) == ("message.clicked", True, 3)
    assert (click.url, click.anchor_text) == ("https://shop.example/3", "Item 3")
    assert (click.device_type, click.client_type, click.client_name) == (
        "desktop",
        "browser",
        "Chrome",
    )
    assert (prefetch.classification, prefetch.proxy_type) == ("privacy_proxy", "apple_mpp")
    assert prefetch.machine is True
    assert "unconfirmed" in prefetch.reason_codes
    assert (probe.classification, probe.machine, probe.first) == ("generic_bot", True, None)
    assert probe.reason_codes == ["request_shape"]
    assert (trap.type, trap.data, trap.link_index) == ("message.clicked", {"honeypot": True}, None)
    assert trap.classification == "generic_bot"
    assert len({e.public_id for e in promoted(services)}) == 6


def test_the_daily_counters_count_people_and_machines(services: Services) -> None:
    tenant = new_tenant(services.db, services.clock)
    first, second = send(services, tenant, recipients=2)
    observe(services, first, KIND_OPEN, timedelta(minutes=5))
    observe(services, first, KIND_OPEN, timedelta(minutes=6))
    observe(services, first, KIND_CLICK, timedelta(minutes=7), link=2)
    observe(services, second, KIND_OPEN, timedelta(seconds=4), agent="Mozilla/5.0", headers="{}")
    observe(services, second, KIND_CLICK, timedelta(minutes=8), link=1, method="HEAD")
    assert promoter_of(services).run_once() == 5
    day = DELIVERED.date()
    with services.db.read() as conn:
        counted = rollups.read(conn, [tenant.project.id], day, date(2026, 11, 24))
    assert dict(counted[day.isoformat()]) == {
        **dict.fromkeys(rollups.COUNTERS, 0),
        "opened": 2,
        "unique_opened": 1,
        "clicked": 1,
        "unique_clicked": 1,
        "effective_opened": 1,
        "human_opened": 2,
        "privacy_opened": 1,
        "machine_opened": 1,
        "machine_clicked": 1,
        "unique_any_opened": 2,
        "unique_any_clicked": 2,
    }


@pytest.mark.parametrize("fresh", [False, True], ids=["same promoter", "another promoter"])
def test_a_burst_split_between_passes_is_still_a_burst(services: Services, fresh: bool) -> None:
    """The second pass judges its click with the first pass's as context: two links within a
    second. Another promoter never built the first hit, so it reads it back."""
    (copy_id,) = send(services, new_tenant(services.db, services.clock))
    observe(services, copy_id, KIND_CLICK, timedelta(minutes=7), link=0)
    observe(services, copy_id, KIND_CLICK, timedelta(minutes=7, milliseconds=500), link=4)
    promoter = promoter_of(services)
    assert promoter.run_once(limit=1) == 1
    assert (promoter_of(services) if fresh else promoter).run_once(limit=1) == 1
    alone, burst = promoted(services)
    assert (alone.classification, alone.first) == ("genuine", True)
    assert (burst.classification, burst.machine) == ("security_scanner", True)
    assert burst.reason_codes == ["link_protection", "timing"]
    assert burst.details == ["2 different links clicked within 1.5 s"]


@pytest.mark.parametrize("fresh", [False, True], ids=["same promoter", "another promoter"])
def test_first_is_counted_across_passes(services: Services, fresh: bool) -> None:
    tenant = new_tenant(services.db, services.clock)
    (copy_id,) = send(services, tenant)
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=5))
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=30))
    promoter = promoter_of(services)
    assert promoter.run_once(limit=1) == 1
    assert (promoter_of(services) if fresh else promoter).run_once(limit=1) == 1
    assert [e.first for e in promoted(services)] == [True, False]
    with services.db.read() as conn:
        counted = rollups.read(conn, [tenant.project.id], DELIVERED.date(), DELIVERED.date())
    day = counted[DELIVERED.date().isoformat()]
    assert (day["opened"], day["unique_opened"], day["unique_any_opened"]) == (2, 1, 1)


@pytest.mark.parametrize("fresh", [False, True], ids=["same promoter", "another promoter"])
def test_each_links_counters_count_recipients_once_and_every_click(
    services: Services, fresh: bool
) -> None:
    """A link's recipients are counted once however many times, and across passes; its
    clicks each time. What the promoter keeps is what the events say."""
    tenant = new_tenant(services.db, services.clock)
    ann, bob = send(services, tenant, recipients=2)
    observe(services, ann, KIND_CLICK, timedelta(minutes=5), link=2)
    observe(services, bob, KIND_CLICK, timedelta(minutes=6), link=2, method="HEAD")  # machine
    observe(services, ann, KIND_HONEYPOT, timedelta(minutes=7), headers="{}")  # not a link
    promoter = promoter_of(services)
    assert promoter.run_once(limit=3) == 3
    observe(services, ann, KIND_CLICK, timedelta(minutes=30), link=2)  # again: one more click
    observe(services, bob, KIND_CLICK, timedelta(minutes=31), link=2)  # now bob, himself
    observe(services, bob, KIND_CLICK, timedelta(minutes=32), link=4, method="HEAD")
    observe(services, bob, KIND_CLICK, timedelta(minutes=33), link=9)  # no such link
    assert (promoter_of(services) if fresh else promoter).run_once() == 4
    with services.db.read() as conn:
        [message_id] = {e.message_id for e in promoted(services)}
        report = {r.link_index: r for r in link_report.link_report(conn, message_id)}
        assert link_figures.kept(conn) == link_figures.from_events(conn)
    assert sorted(report) == [0, 1, 2, 3, 4]
    two, four = report[2], report[4]
    assert (two.human_clicks, two.human_clicks_events) == (2, 3)
    assert (two.machine_clicks, two.machine_clicks_events) == (1, 1)
    assert (four.human_clicks, four.machine_clicks, four.machine_clicks_events) == (0, 1, 1)
    assert report[0].human_clicks_events == report[0].machine_clicks_events == 0


def test_a_hit_on_a_copy_that_is_gone_is_marked_without_an_event(services: Services) -> None:
    observe(services, 10**9, KIND_CLICK, timedelta(minutes=5))
    assert promoter_of(services).run_once() == 1
    assert unpromoted(services) == 0
    assert promoted(services) == []


def test_promoters_at_once_promote_each_observation_exactly_once(services: Services) -> None:
    """Four promoters in threads, small passes: on PostgreSQL they skip each other's locked
    rows, on SQLite they take turns; a double promotion would break events' unique
    observation id."""
    clock: FixedClock = services.clock
    copy_ids = send(services, new_tenant(services.db, services.clock), recipients=10)
    for n in range(200):
        kind = KIND_OPEN if n % 3 else KIND_CLICK
        after = timedelta(minutes=5, seconds=n)
        observe(services, copy_ids[n % 10], kind, after, link=n % 5)
    assert clock.now() > DELIVERED
    done: list[int] = []
    failures: list[BaseException] = []

    def work() -> None:
        promoter = promoter_of(services)
        try:
            while step := promoter.run_once(limit=7):
                done.append(step)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(done) == 200
    assert len(promoted(services)) == 200
    assert unpromoted(services) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_pass_is_judged_without_the_write_lock(services: Services) -> None:
    """SQLite has one writer at a time and the clicks' observation writer waits for whoever
    holds the lock: a pass takes it only to write, not while it judges."""
    copy_ids = send(services, new_tenant(services.db, services.clock))
    observe(services, copy_ids[0], KIND_CLICK, timedelta(minutes=5), link=1)
    held: list[bool] = []

    class Watched(Promoter):
        def _judge(self, conn: Any, found: Any, states: Any) -> Any:
            held.append(services.db.sqlite_lock.locked())
            return super()._judge(conn, found, states)

    assert promoter_of(services, Watched).run_once() == 1
    assert held == [False]
    assert len(promoted(services)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_analytics_increments_are_made_before_the_write_lock(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analytics counters' increments are a pass's costliest pure work (about 3 us an
    event): made before the pass takes the lock the API's writers wait for, and written with
    the events."""
    copy_ids = send(services, new_tenant(services.db, services.clock), recipients=2)
    observe(services, copy_ids[0], KIND_CLICK, timedelta(minutes=5), link=1)
    observe(services, copy_ids[1], KIND_CLICK, timedelta(minutes=6), link=1)
    observe(services, copy_ids[1], KIND_OPEN, timedelta(minutes=7))
    held: list[bool] = []
    made = analytics_rollups.deltas

    def watched(conn: Any, found: Any) -> Any:
        held.append(services.db.sqlite_lock.locked())
        return made(conn, found)

    monkeypatch.setattr(analytics_rollups, "deltas", watched)
    assert promoter_of(services).run_once() == 3
    assert held == [False]
    with services.db.read() as conn:
        counted = conn.execute(
            select(
                func.sum(analytics_hourly.c.human_clicks),
                func.sum(analytics_hourly.c.human_clicks_events),
                func.sum(analytics_hourly.c.human_opens_events),
            )
        ).one()
    assert tuple(counted) == (2, 2, 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_pass_judged_from_what_another_promoter_changed_is_judged_again(
    services: Services,
) -> None:
    """Judged without the lock, a pass may be overtaken by another promoter (another process):
    one that promotes the same observation (it must not be promoted twice), or one that gives
    the copy an event the pass did not see (what a copy has seen decides ``first`` and the
    unique counters: here, the click makes the copy engaged before the open is written)."""
    copy_id = send(services, new_tenant(services.db, services.clock))[0]
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=5))
    observe(services, copy_id, KIND_OPEN, timedelta(minutes=7))
    judged = 0

    class Overtaken(Promoter):
        def _judge(self, conn: Any, found: Any, states: Any) -> Any:
            nonlocal judged
            result = super()._judge(conn, found, states)
            judged += 1
            if judged == 1:  # another promoter promotes an earlier click, which it has not seen
                observe(services, copy_id, KIND_CLICK, timedelta(minutes=1), link=2)
                assert promoter_of(services).run_once(limit=1) == 1
            elif judged == 2:  # then the very open this pass is judging
                assert promoter_of(services).run_once(limit=1) == 1
            return result

    assert promoter_of(services, Overtaken).run_once(limit=1) == 1
    assert judged == 3  # the third judging is the one written
    with services.db.read() as conn:
        found = conn.execute(
            select(events.c.type, events.c.first)
            .where(events.c.observation_id.is_not(None))
            .order_by(events.c.observation_id)
        ).all()
        totals = conn.execute(
            select(func.sum(stats_daily.c.opened), func.sum(stats_daily.c.effective_opened))
        ).one()
    assert [tuple(row) for row in found] == [
        ("message.opened", True),
        ("message.opened", False),
        ("message.clicked", True),
    ]
    assert tuple(totals) == (2, 1)  # read once: the click made the copy engaged, not the opens


def test_a_hot_copys_many_hits_in_one_pass_still_see_each_other(
    services: Services,
) -> None:
    """A copy's hits in one pass are judged together, however many (a bot looping on a link
    costs their number, not its square: core/verdicts/classify.py sweeps them in time order):
    a burst after a long run of clicks is seen from both of its sides."""
    many = 200
    (copy_id,) = send(services, new_tenant(services.db, services.clock))
    for n in range(many):  # one person clicking one link, once a second
        observe(services, copy_id, KIND_CLICK, timedelta(minutes=5, seconds=n), link=0)
    edge = timedelta(minutes=5, seconds=many - 1, milliseconds=600)
    observe(services, copy_id, KIND_CLICK, edge, link=3)  # another link, 0.6 s later
    assert promoter_of(services).run_once() == many + 1
    *person, last, burst = promoted(services)
    assert {e.classification for e in person} == {"genuine"}
    for seen_from_both_sides in (last, burst):
        assert seen_from_both_sides.classification == "security_scanner"
        assert seen_from_both_sides.details == ["2 different links clicked within 1.5 s"]


@pytest.mark.parametrize("nice", [0, 10])
def test_the_worker_promotes_in_a_thread_of_its_own_at_the_priority_asked(
    services: Services, monkeypatch: pytest.MonkeyPatch, nice: int
) -> None:
    """Beside the loop that answers clicks (an application built in-process), the promoter
    shares a core with it: the kernel must run the loop first when both are ready (the
    redirect's p99, bench/redirect). In its own process (serve's child, `mailbeacon worker`)
    the process's priority is the one to have."""
    seen: list[tuple[str, int, int]] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def run_once(self: Promoter, **_: Any) -> int:
            me = threading.get_native_id()
            seen.append((threading.current_thread().name, me, os.getpriority(os.PRIO_PROCESS, me)))
            loop.call_soon_threadsafe(stop.set)
            return 0

        monkeypatch.setattr(Promoter, "run_once", run_once)
        await promoter_worker(services.db, services.clock, 0, stop, nice=nice)

    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    asyncio.run(scenario())
    [(name, thread_id, priority)] = seen
    assert name.startswith("promoter")
    assert thread_id != threading.get_native_id()
    assert priority == min(loop_priority + nice, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority
