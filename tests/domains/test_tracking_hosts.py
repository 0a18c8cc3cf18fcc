"""The in-memory map of tracking hosts (service/tracking_hosts.py) on a real database, with
its clock in the test's hands: when it reads the database again, and what it answers meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mailbeacon.clock import FixedClock
from mailbeacon.core.hosts.domain_checks import DomainStatus
from mailbeacon.service.domains import DomainPolicy, add_domain
from mailbeacon.service.tracking_hosts import TrackingHosts
from mailbeacon.store import tracking_domains as store
from mailbeacon.store.db import Database
from tests.support.tenants import Tenant, new_tenant

PUBLIC = "https://mb.example.test"
BASE = "trk.example.test"


class Ticks:
    """A monotonic clock that moves when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def activate(db: Database, tenant: Tenant, domain: str, clock: FixedClock) -> None:
    policy = DomainPolicy(shared_target=None, base_domain=BASE)
    added = add_domain(db, tenant.project, domain, policy, clock.now())
    with db.write() as conn:
        store.record_check(
            conn,
            added.id,
            clock.now(),
            judged=DomainStatus.PENDING_CNAME,
            status=DomainStatus.ACTIVE,
            reason=None,
            verified=True,
            next_check=None,
        )


def test_hosts_activated_elsewhere_are_found_on_a_miss_at_most_once_a_second(
    sqlite_url: str, clock: FixedClock
) -> None:
    db = Database(sqlite_url)
    ticks = Ticks()
    hosts = TrackingHosts(db, PUBLIC, BASE, monotonic=ticks)
    acme = new_tenant(db, clock, "Acme")
    sid = acme.project.sid.encode()

    async def scenario() -> None:
        assert await hosts.audience("track.acme.test") == b""  # read: nothing active
        activate(db, acme, "track.acme.test", clock)  # by another process
        ticks.now += 0.5
        assert await hosts.audience("track.acme.test") == b""  # read a moment ago
        ticks.now += 0.6
        assert await hosts.audience("track.acme.test") == sid  # a miss: read again
        assert hosts.known_audience("track.acme.test") == sid  # remembered
        assert hosts.known_audience("mb.example.test") is None  # not seen yet
        assert await hosts.audience("mb.example.test:443") == b""
        assert await hosts.audience(f"P{acme.project.sid.upper()}.{BASE}") == sid
        with db.write() as conn:
            found = store.by_domain(conn, "track.acme.test")
            assert found is not None
            store.delete(conn, found.id)
        ticks.now += 10
        assert hosts.known_audience("track.acme.test") == sid  # fresh for 30 s
        ticks.now += 25
        assert hosts.known_audience("track.acme.test") is None  # stale: ask again
        await hosts.audience("track.acme.test")  # answers now, reads in the background
        assert hosts._reading is not None
        await hosts._reading
        assert await hosts.audience("track.acme.test") == b""

    try:
        asyncio.run(scenario())
    finally:
        db.dispose()


def test_a_miss_never_takes_a_reading_started_before_the_window_as_its_own(
    sqlite_url: str, clock: FixedClock
) -> None:
    """A reading over in its thread whose future the loop has not yet been told of (it is
    told on its next turn) read the database before the activation: a miss a window later
    reads again, never answering from it (this failed 8 times in 40 under load, when the
    first reading ended before the loop looked)."""
    db = Database(sqlite_url)
    ticks = Ticks()
    hosts = TrackingHosts(db, PUBLIC, BASE, monotonic=ticks)
    acme = new_tenant(db, clock, "Acme")

    async def scenario() -> None:
        hosts._read_soon()
        while hosts._snapshot.loaded_at != ticks.now:  # the thread read; the loop waits
            time.sleep(0.01)
        assert hosts._reading is not None
        assert not hosts._reading.done()
        activate(db, acme, "track.acme.test", clock)  # by another process
        ticks.now += 1.1
        assert await hosts.audience("track.acme.test") == acme.project.sid.encode()

    try:
        asyncio.run(scenario())
    finally:
        db.dispose()


def test_origins_and_rules_follow_the_newest_active_domain(
    sqlite_url: str, clock: FixedClock
) -> None:
    db = Database(sqlite_url)
    ticks = Ticks()
    hosts = TrackingHosts(db, PUBLIC, BASE, monotonic=ticks)
    acme = new_tenant(db, clock, "Acme")
    project, sid = acme.project, acme.project.sid
    try:
        first = hosts.origin(project.id, sid)
        assert (first.base_url, first.audience) == (f"https://p{sid}.{BASE}", sid.encode())
        activate(db, acme, "one.acme.test", clock)
        assert hosts.origin(project.id, sid).base_url == first.base_url  # not read yet
        hosts.changed()
        assert hosts.origin(project.id, sid).base_url == "https://one.acme.test"
        clock.advance(minutes=1)
        activate(db, acme, "two.acme.test", clock)
        ticks.now += 31  # stale: the accept path reads again itself
        assert hosts.origin(project.id, sid).base_url == "https://two.acme.test"
        rules = hosts.link_rules()
        assert {"mb.example.test", "one.acme.test", "two.acme.test"} <= rules.tracking_hosts
        assert rules.tracking_domains == frozenset({BASE})
    finally:
        db.dispose()


def test_caddy_is_told_yes_for_our_names_only(sqlite_url: str, clock: FixedClock) -> None:
    db = Database(sqlite_url)
    ticks = Ticks()
    hosts = TrackingHosts(db, PUBLIC, BASE, monotonic=ticks)
    serves: Callable[[str], bool] = lambda name: asyncio.run(hosts.serves(name))  # noqa: E731
    try:
        assert serves("mb.example.test")
        acme = new_tenant(db, clock, "Acme")  # made after the first reading
        assert not serves(f"p{acme.project.sid}.{BASE}")  # read a moment ago
        ticks.now += 1
        assert serves(f"p{acme.project.sid}.{BASE}")
        assert not serves(f"pzzzz9999.{BASE}")
        assert not serves("track.acme.test")
        activate(db, acme, "track.acme.test", clock)
        ticks.now += 1
        assert serves("track.acme.test")
        assert not serves("localhost")
        assert not serves("10.1.2.3")
    finally:
        db.dispose()
