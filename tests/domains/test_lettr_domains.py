"""Lettr's ``/api/domains`` through the official SDK: the key's project's custom tracking
domains, with the CNAME looked up on a loopback DNS server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import lettr
import pytest

from tests.domains.conftest import Site
from tests.support import databases

BASE = "trk.example.test"  # the operator's tracking base domain in these tests
NAME = "track.acme.example"


@pytest.fixture(params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, site: Callable[..., Any], tmp_path: Path
) -> Iterator[Site]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(tmp_path)])
    else:
        urls = databases.fresh_postgres()
    for url in urls:
        with site(url, tracking_base_domain=BASE) as started:
            yield started


Client = Callable[..., tuple[lettr.Lettr, str]]


@pytest.fixture
def client(world: Site) -> Iterator[Client]:
    """``client(name)``: the SDK with a new project's key, and the host its domains point
    at; closed when the test ends."""
    made: list[lettr.Lettr] = []

    def make(name: str = "Acme") -> tuple[lettr.Lettr, str]:
        tenant = world.tenant(name).tenant
        made.append(lettr.Lettr(tenant.sending_token, base_url=f"{world.base}/api", timeout=10))
        return made[-1], f"p{tenant.project.sid}.{BASE}"

    yield make
    for sdk in made:
        sdk.close()


def key_of(sdk: lettr.Lettr) -> dict[str, str]:
    """The header the SDK sends with its requests, for the raw ones."""
    return {"authorization": str(sdk._client._http.headers["authorization"])}


def test_a_tracking_domain_is_added_verified_and_deleted(world: Site, client: Client) -> None:
    sdk, target = client()
    added = sdk.domains.create("Track.Acme.Example")
    assert (added.domain, added.status, added.dkim) == (NAME, "pending", None)
    assert added.status_label == "Pending CNAME record"
    (listed,) = sdk.domains.list()
    assert (listed.domain, listed.cname_status, listed.can_send) == (NAME, "unverified", False)
    assert listed.dkim_status is None
    found = sdk.domains.get(NAME.upper())
    assert found.tracking_domain == NAME
    assert found.dns == {"cname": {"type": "CNAME", "name": NAME, "value": target}, "dkim": None}
    assert (found.is_primary_domain, found.spf_status, found.dns_provider) == (False, None, None)

    world.zone.nxdomain(NAME)
    missing = sdk.domains.verify(NAME)
    assert (missing.cname_status, missing.ownership_verified) == ("unverified", "false")
    assert (missing.dkim_status, missing.spf_status, missing.dmarc_status) == (
        "not_applicable",
    ) * 3
    assert missing.dns is not None
    assert missing.dns.cname_error  # why it is not active yet
    assert sdk.domains.get(NAME).status_label == f"Pending CNAME record: {missing.dns.cname_error}"

    world.zone.cname(NAME, target)
    world.services.clock.advance(minutes=1)  # type: ignore[attr-defined]
    verified = sdk.domains.verify(NAME)
    assert (verified.cname_status, verified.ownership_verified) == ("valid", "true")
    assert verified.dns is not None
    assert verified.dns.cname_error is None
    approved = sdk.domains.get(NAME)
    assert (approved.status, approved.cname_status) == ("approved", "valid")
    assert (approved.created_at, approved.updated_at) == (
        "2026-11-23T12:00:00.000Z",
        "2026-11-23T12:01:00.000Z",
    )

    assert sdk.domains.delete(NAME) is None
    with pytest.raises(lettr.NotFoundError):
        sdk.domains.get(NAME)
    assert sdk.domains.list() == []


def test_the_raw_answers_are_lettrs(world: Site, client: Client) -> None:
    sdk, _ = client()
    headers = key_of(sdk)
    created = httpx.post(f"{world.base}/api/domains", json={"domain": NAME}, headers=headers)
    assert created.status_code == 201
    assert created.json()["message"] == "Domain created successfully."
    deleted = httpx.delete(f"{world.base}/api/domains/{NAME}", headers=headers)
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_a_claimed_domain_is_a_conflict(world: Site, client: Client) -> None:
    sdk, _ = client()
    other, _ = client("Other")
    sdk.domains.create(NAME)
    for who in (sdk, other):
        with pytest.raises(lettr.ConflictError):
            who.domains.create(NAME)


def test_another_projects_key_sees_none_of_the_domains(world: Site, client: Client) -> None:
    sdk, _ = client()
    other, _ = client("Other")
    sdk.domains.create(NAME)
    assert other.domains.list() == []
    for call in (other.domains.get, other.domains.verify, other.domains.delete):
        with pytest.raises(lettr.NotFoundError):
            call(NAME)
    assert [d.domain for d in sdk.domains.list()] == [NAME]


@pytest.mark.parametrize("name", ["localhost", "acme.example", "bad..name.example", "x" * 300])
def test_a_name_that_cannot_be_a_tracking_domain_is_a_422(client: Client, name: str) -> None:
    sdk, _ = client()
    with pytest.raises(lettr.ValidationError) as caught:
        sdk.domains.create(name)
    assert "domain" in caught.value.errors
    assert sdk.domains.list() == []


def test_a_malformed_name_in_the_path_is_a_422_and_a_bad_body_too(
    world: Site, client: Client
) -> None:
    sdk, _ = client()
    with pytest.raises(lettr.ValidationError) as caught:
        sdk.domains.delete("bad..name.example")
    assert "domain" in caught.value.errors
    headers = key_of(sdk)
    for body in ({}, {"domain": 42}, ["track.acme.example"]):
        answer = httpx.post(f"{world.base}/api/domains", json=body, headers=headers)
        assert answer.status_code == 422, body
        assert answer.json()["error_code"] == "validation_error"
