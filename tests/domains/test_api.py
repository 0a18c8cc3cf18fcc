"""The tracking domains endpoints of the Team API, and Caddy's ``ask``: validation, claims,
tenant isolation, pages, and the one error shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mailbeacon.store import tenancy
from tests.domains.conftest import Site

BASE = "trk.example.test"  # the operator's tracking base domain in these tests
SHARED = f"custom.{BASE}"  # a name that is no project's host: never a CNAME target


def target(sid: str) -> str:
    """The host a domain of project ``sid`` points at: its own default host."""
    return f"p{sid}.{BASE}"


@pytest.fixture
def world(site: Callable[..., Any]) -> Iterator[Site]:
    with site(tracking_base_domain=BASE) as started:
        yield started


def error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"]["code"] == body["error_code"]
    assert body["message"] == body["error"]["message"]
    return body


def test_adding_a_domain_answers_the_cname_record_to_create(world: Site) -> None:
    acme = world.tenant()
    answer = acme.add("Track.Acme.Example.")
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    assert data["domain"] == "track.acme.example"
    assert data["project_id"] == acme.tenant.project.public_id
    assert data["status"] == "pending_cname"
    assert data["status_reason"] is None
    mine = target(acme.tenant.project.sid)
    assert data["dns_records"] == [{"type": "CNAME", "name": "track.acme.example", "value": mine}]
    assert data["created_at"].endswith("Z")
    assert data["verified_at"] is None
    assert data["last_checked_at"] is None
    assert f"track.acme.example. CNAME {mine}." in answer.json()["message"]
    again = acme.api("GET", f"/tracking-domains/{data['id']}")
    assert again.json() == data


def test_unicode_domains_are_stored_as_a_labels(world: Site) -> None:
    data = world.tenant().added("Tráck.Exämple.COM")
    assert data["domain"] == "xn--trck-6na.xn--exmple-cua.com"
    assert data["dns_records"][0]["name"] == "xn--trck-6na.xn--exmple-cua.com"


REFUSED = [
    ("example.com", "is not a subdomain"),
    ("203.0.113.7", "is an IP address"),
    ("*.acme.example", "Wildcards are not allowed"),
    ("https://track.acme.example/", "not a URL"),
    ("a" * 64 + ".acme.example", "at most 63"),
    (".".join(["abcdefghi"] * 26), "at most 253"),
    ("tr ack.acme.example", "not a valid host name"),
    (BASE, "mailbeacon's own tracking domain"),
    (f"pab12cd34.{BASE}", "mailbeacon's own tracking domain"),
    ("t.example.test", "one of mailbeacon's own hosts"),  # the public URL's host
]


def test_names_that_cannot_be_tracking_domains_are_a_422_naming_the_field(world: Site) -> None:
    acme = world.tenant()
    for domain, says in REFUSED:
        body = error(acme.add(domain), 422)
        assert body["error"]["code"] == "validation_error", domain
        assert says in body["message"], domain
        assert body["errors"] == {"domain": [body["message"]]}, domain
    assert acme.api("GET", "/tracking-domains").json()["data"] == []


def test_malformed_bodies_are_a_422(world: Site) -> None:
    acme = world.tenant()
    assert "domain" in error(acme.api("POST", "/tracking-domains", json={}), 422)["errors"]
    assert (
        "domain" in error(acme.api("POST", "/tracking-domains", json={"domain": 5}), 422)["errors"]
    )
    assert error(acme.add("   "), 422)["errors"]["domain"]
    broken = acme.api(
        "POST",
        "/tracking-domains",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    error(broken, 422)


def test_the_project_is_named_unless_the_team_has_only_one(world: Site) -> None:
    acme = world.tenant()
    services = world.services
    with services.db.write() as conn:
        second, _ = tenancy.create_project(
            conn, acme.tenant.team.id, "Second", services.clock.now()
        )
    body = error(acme.add("track.acme.example"), 422)
    assert body["errors"] == {"project_id": ["Name the project: this team has 2 projects."]}
    data = acme.add("track.acme.example", project_id=second.public_id)
    assert data.status_code == 201
    assert data.json()["data"]["project_id"] == second.public_id
    other = world.tenant("Other")
    body = error(acme.add("t2.acme.example", project_id=other.tenant.project.public_id), 422)
    assert body["errors"] == {"project_id": ["No such project in this team."]}


def test_a_claimed_domain_is_a_409_for_everyone(world: Site) -> None:
    acme, other = world.tenant(), world.tenant("Other")
    acme.added("track.acme.example")
    mine = error(acme.add("TRACK.acme.example"), 409)
    assert mine["error"]["code"] == "conflict"
    assert mine["message"] == "track.acme.example is a tracking domain of this project already."
    theirs = error(other.add("track.acme.example"), 409)
    assert theirs["message"] == "track.acme.example is claimed by another project."


def test_another_teams_domain_is_a_404_like_a_missing_one(world: Site) -> None:
    acme, other = world.tenant(), world.tenant("Other")
    data = acme.added("track.acme.example")
    missing = "00000000-0000-0000-0000-000000000000"
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/verify")):
        answer = other.api(method, f"/tracking-domains/{data['id']}{suffix}")
        assert (
            error(answer, 404) == other.api(method, f"/tracking-domains/{missing}{suffix}").json()
        )
    assert other.api("GET", "/tracking-domains").json()["data"] == []
    assert acme.api("GET", f"/tracking-domains/{data['id']}").status_code == 200


def test_the_team_token_is_required(world: Site) -> None:
    acme = world.tenant()
    error(world.http.get("/v1/tracking-domains"), 401)
    wrong = world.http.get(
        "/v1/tracking-domains",
        headers={"authorization": f"Bearer {acme.tenant.sending_token}"},
    )
    error(wrong, 403)


def test_lists_page_by_cursor_and_filter_by_project(world: Site) -> None:
    acme = world.tenant()
    names = [f"t{i}.acme.example" for i in range(3)]
    for name in names:
        acme.added(name)
    first = acme.api("GET", "/tracking-domains", params={"page[size]": 2}).json()
    assert [d["domain"] for d in first["data"]] == names[:2]
    rest = acme.api(
        "GET", "/tracking-domains", params={"page[size]": 2, "page[cursor]": first["next_cursor"]}
    ).json()
    assert [d["domain"] for d in rest["data"]] == names[2:]
    assert rest["next_cursor"] is None
    project = acme.tenant.project.public_id
    mine = acme.api("GET", "/tracking-domains", params={"filter[project_id]": project}).json()
    assert len(mine["data"]) == 3
    none = acme.api("GET", "/tracking-domains", params={"filter[project_id]": "x"}).json()
    assert none["data"] == []
    error(acme.api("GET", "/tracking-domains", params={"page[cursor]": "bogus"}), 422)


def test_a_deleted_domain_is_gone_and_free_again(world: Site) -> None:
    acme, other = world.tenant(), world.tenant("Other")
    data = acme.added("track.acme.example")
    answer = acme.api("DELETE", f"/tracking-domains/{data['id']}")
    assert answer.status_code == 200
    assert answer.json() == {"message": "Tracking domain deleted."}
    error(acme.api("GET", f"/tracking-domains/{data['id']}"), 404)
    assert other.added("track.acme.example")["project_id"] == other.tenant.project.public_id


def test_caddy_may_obtain_certificates_for_our_hosts_only(world: Site) -> None:
    acme = world.tenant()
    zone = world.zone
    data = acme.added("track.acme.example")
    pending = acme.added("pending.acme.example")

    def ask(domain: str | None) -> httpx.Response:
        params = {"domain": domain} if domain is not None else {}
        return world.http.get("/tls/ask", params=params)

    assert ask("t.example.test").status_code == 200  # the public URL's host
    assert ask(f"p{acme.sid}.{BASE}").status_code == 200
    assert ask(f"P{acme.sid.upper()}.{BASE.upper()}.").status_code == 200
    for refused in (
        "track.acme.example",  # pending
        pending["domain"],
        "pzzzz9999.trk.example.test",  # no such project
        SHARED,
        BASE,
        "unknown.example.org",
        "127.0.0.1",
    ):
        body = error(ask(refused), 404)
        assert body["error"]["code"] == "not_found", refused
    assert "is not a tracking host" in error(ask("unknown.example.org"), 404)["message"]
    error(ask(None), 400)
    error(ask(""), 400)
    zone.cname("track.acme.example", target(acme.tenant.project.sid))
    assert acme.verify(data["id"])["status"] == "active"
    assert ask("track.acme.example").status_code == 200
