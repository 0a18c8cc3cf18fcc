"""CNAME verification against a real DNS server on loopback: through the adapter, the domain
worker (on SQLite and PostgreSQL) and ``POST /tracking-domains/{id}/verify`` on a real server;
and whose a name is: with a base domain, the record must point at the claiming project's own
host, so one made for another project verifies nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mailbeacon.app import Services, build_domain_checker
from mailbeacon.clock import FixedClock
from mailbeacon.core.hosts.domain_checks import CnameFound, DomainStatus, LookupFailed, NoCname
from mailbeacon.service.cnames import CnameResolver
from mailbeacon.service.domains import DomainPolicy, add_domain, check_domain
from mailbeacon.store import tracking_domains as store
from tests.support.dns_server import DnsZone, silent_resolver
from tests.support.tenants import new_tenant

BASE = "trk.example.test"
TARGET = f"pab12cd34.{BASE}"  # some project's default host, for the adapter


def target(sid: str) -> str:
    """The CNAME target of a project's domains with the base domain and no shared target."""
    return f"p{sid}.{BASE}"


def wrong(sid: str) -> str:
    return f"CNAME points to elsewhere.example.net, expected {target(sid)}"


def test_the_adapter_reads_cnames_and_names_what_went_wrong(dns_zone: DnsZone) -> None:
    dns_zone.cname("right.shop.test", TARGET.upper())
    dns_zone.no_answer("bare.shop.test")
    dns_zone.servfail("broken.shop.test")
    cnames = CnameResolver([("127.0.0.1", dns_zone.port)], timeout=2)
    assert cnames.lookup("right.shop.test") == CnameFound(TARGET)
    assert cnames.lookup("gone.shop.test") == NoCname("NXDOMAIN")
    assert cnames.lookup("bare.shop.test") == NoCname("no CNAME in the answer")
    assert cnames.lookup("broken.shop.test") == LookupFailed(
        f"SERVFAIL from 127.0.0.1 port {dns_zone.port}"
    )
    assert ("right.shop.test", "CNAME") in dns_zone.asked
    with silent_resolver() as silent:
        address, port = silent.split(":")
        slow = CnameResolver([(address, int(port))], timeout=0.3)
        assert slow.lookup("right.shop.test") == LookupFailed(
            "no answer from the resolvers within 0.3 s"
        )


def test_the_worker_activates_matching_domains_and_fails_the_rest_after_the_deadline(
    make_services: Callable[..., Services],
    database_url: str,
    dns_zone: DnsZone,
    clock: FixedClock,
) -> None:
    services = make_services(
        database_url,
        tracking_base_domain=BASE,
        dns_resolvers=dns_zone.resolvers,
        dns_timeout_seconds="2",
        domain_verify_deadline_hours="72",
        domain_recheck_seconds="300",
    )
    tenant = new_tenant(services.db, clock)
    policy = DomainPolicy.from_settings(services.settings)
    mine, elsewhere = target(tenant.project.sid), wrong(tenant.project.sid)
    names = {
        "right": "right.shop.test",
        "wrong": "wrong.shop.test",
        "gone": "gone.shop.test",
        "bare": "bare.shop.test",
        "later": "later.shop.test",
    }
    added = {
        key: add_domain(services.db, tenant.project, name, policy, clock.now())
        for key, name in names.items()
    }
    dns_zone.cname(names["right"], mine)
    dns_zone.cname(names["wrong"], "elsewhere.example.net")
    dns_zone.no_answer(names["bare"])

    def state() -> dict[str, tuple[str, str | None]]:
        with services.db.read() as conn:
            found = {d.domain: d for d in store.list_domains(conn)}
        return {
            key: (found[name].status.value, found[name].status_reason)
            for key, name in names.items()
        }

    assert asyncio.run(build_domain_checker(services).check_due()) == 5  # due at once, on creation
    assert state() == {
        "right": ("active", None),
        "wrong": ("pending_cname", elsewhere),
        "gone": ("pending_cname", "no CNAME record found"),
        "bare": ("pending_cname", "no CNAME record found"),
        "later": ("pending_cname", "no CNAME record found"),
    }
    assert asyncio.run(build_domain_checker(services).check_due()) == 0  # next check in 5 minutes
    clock.advance(minutes=5)
    dns_zone.cname(names["later"], mine)
    assert (
        asyncio.run(build_domain_checker(services).check_due()) == 4
    )  # the active one is not checked again
    assert state()["later"] == ("active", None)
    clock.advance(hours=72)
    assert asyncio.run(build_domain_checker(services).check_due()) == 3
    assert state() == {
        "right": ("active", None),
        "wrong": ("failed", elsewhere),
        "gone": ("failed", "no CNAME record found"),
        "bare": ("failed", "no CNAME record found"),
        "later": ("active", None),
    }
    clock.advance(hours=1)
    assert (
        asyncio.run(build_domain_checker(services).check_due()) == 0
    )  # failed ones wait to be asked
    with services.db.read() as conn:
        right = store.by_domain(conn, names["right"])
    assert right is not None
    assert right.verified_at == added["right"].created_at
    # DNS flaps: an active domain stays active (links already sent use it).
    dns_zone.nxdomain(names["right"])
    checked = check_domain(services.db, services.cnames, right, policy, clock.now())
    assert checked is not None
    assert (checked.status, checked.status_reason) == (DomainStatus.ACTIVE, None)
    assert checked.last_checked_at == clock.now()
    assert services.hosts.origin(tenant.project.id, tenant.project.sid).base_url in (
        "http://right.shop.test",
        "http://later.shop.test",
    )


def test_a_slow_check_does_not_undo_what_a_newer_one_decided(
    make_services: Callable[..., Services], sqlite_url: str, dns_zone: DnsZone, clock: FixedClock
) -> None:
    services = make_services(sqlite_url, dns_resolvers=dns_zone.resolvers)
    tenant = new_tenant(services.db, clock)
    policy = DomainPolicy.from_settings(services.settings)
    seen = add_domain(services.db, tenant.project, "track.shop.test", policy, clock.now())
    assert policy.target_for(tenant.project.sid) == "t.example.test"  # the public URL's host
    dns_zone.cname("track.shop.test", policy.target_for(tenant.project.sid))
    assert check_domain(services.db, services.cnames, seen, policy, clock.now()) is not None
    dns_zone.nxdomain("track.shop.test")
    stale = check_domain(services.db, services.cnames, seen, policy, clock.now())  # saw pending
    assert stale is not None
    assert stale.status is DomainStatus.ACTIVE


def test_verify_looks_now_and_answers_the_domain_as_it_is(
    site: Callable[..., Any], dns_zone: DnsZone
) -> None:
    with site(tracking_base_domain=BASE, domain_verify_deadline_hours="1") as world:
        acme = world.tenant()
        mine, elsewhere = target(acme.sid), wrong(acme.sid)
        clock = world.services.clock
        assert isinstance(clock, FixedClock)
        dns_zone.cname("wrong.acme.test", "elsewhere.example.net")
        dns_zone.no_answer("bare.acme.test")
        dns_zone.servfail("broken.acme.test")
        expected = {
            "wrong.acme.test": elsewhere,
            "gone.acme.test": "no CNAME record found",  # NXDOMAIN
            "bare.acme.test": "no CNAME record found",  # NOERROR, no answer
            "broken.acme.test": f"DNS lookup failed: SERVFAIL from 127.0.0.1 port {dns_zone.port}",
        }
        ids = {name: acme.added(name)["id"] for name in [*expected, "right.acme.test"]}
        for name, reason in expected.items():
            data = acme.verify(ids[name])
            assert (data["status"], data["status_reason"]) == ("pending_cname", reason), name
            assert data["last_checked_at"] is not None
            assert data["verified_at"] is None
        dns_zone.cname("right.acme.test", mine)
        answer = acme.api("POST", f"/tracking-domains/{ids['right.acme.test']}/verify")
        assert answer.status_code == 200
        assert answer.json()["message"] == "The CNAME record is in place: the domain is active."
        data = answer.json()["data"]
        assert (data["status"], data["status_reason"]) == ("active", None)
        assert data["verified_at"] == data["last_checked_at"]
        clock.advance(hours=2)  # past the deadline: the next check fails a wrong one
        failed = acme.verify(ids["wrong.acme.test"])
        assert (failed["status"], failed["status_reason"]) == ("failed", elsewhere)
        dns_zone.cname("wrong.acme.test", mine)  # fixed late, then asked for
        assert acme.verify(ids["wrong.acme.test"])["status"] == "active"


def test_the_running_worker_checks_a_new_domain_at_once(
    site: Callable[..., Any], dns_zone: DnsZone
) -> None:
    with site(tracking_base_domain=BASE, workers=["domains"]) as world:
        acme = world.tenant()
        dns_zone.cname("track.acme.test", target(acme.sid))
        data = acme.added("track.acme.test")
        deadline = time.monotonic() + 10
        while data["status"] != "active":
            assert time.monotonic() < deadline, data
            time.sleep(0.05)
            data = acme.api("GET", f"/tracking-domains/{data['id']}").json()
        assert data["last_checked_at"] == data["verified_at"]
        assert ("track.acme.test", "CNAME") in dns_zone.asked


def test_a_record_made_for_one_project_verifies_nothing_for_another(
    site: Callable[..., Any], dns_zone: DnsZone
) -> None:
    """The takeover this design prevents: acme's customer points track.acme.test at acme's
    host; rival claims the name first (or after acme deletes it). The record proves the name
    is acme's, so rival's claim stays pending and rival's links are never served there."""
    with site(tracking_base_domain=BASE) as world:
        acme, rival = world.tenant("Acme"), world.tenant("Rival")
        dns_zone.cname("track.acme.test", target(acme.sid))
        claimed = rival.added("track.acme.test")
        checked = rival.verify(claimed["id"])
        assert checked["status"] == "pending_cname"
        assert checked["status_reason"] == (
            f"CNAME points to {target(acme.sid)}, expected {target(rival.sid)}"
        )
        assert world.http.get("/tls/ask", params={"domain": "track.acme.test"}).status_code == 404
        # Released by rival, the name verifies for the project the record names.
        assert rival.api("DELETE", f"/tracking-domains/{claimed['id']}").status_code == 200
        assert acme.verify(acme.added("track.acme.test")["id"])["status"] == "active"


def test_an_operator_may_still_choose_one_shared_target(
    site: Callable[..., Any], dns_zone: DnsZone
) -> None:
    """MAILBEACON_TRACKING_CNAME_TARGET set: every project's record points at it (the help
    text says what that gives up)."""
    shared = f"custom.{BASE}"
    with site(tracking_base_domain=BASE, tracking_cname_target=shared) as world:
        acme = world.tenant()
        data = acme.added("track.acme.test")
        assert data["dns_records"][0]["value"] == shared
        dns_zone.cname("track.acme.test", shared)
        assert acme.verify(data["id"])["status"] == "active"
