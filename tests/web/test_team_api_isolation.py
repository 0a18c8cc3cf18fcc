"""Tenant isolation of the Team API (DESIGN.md, invariant 6): a team token never sees or
changes another team's projects, routes or messages. What belongs to another team answers 404,
exactly as what does not exist, so ids cannot be probed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lettermint import AuthenticationError, Lettermint, PermissionDeniedError

from tests.web.test_team_api import CHROME, Site, open_site, tokens

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def two(running: Callable[..., Any], database_url: str) -> Iterator[tuple[Site, Site]]:
    """Team A with a message, a second route and an engagement event; team B, empty."""
    with running(database_url) as (base, services):
        a, b = open_site(base, services, "Alpha"), open_site(base, services, "Bravo")
        with a.lm, b.lm:
            yield a, b


def a_world(a: Site) -> dict[str, str]:
    project = a.tenant.project.public_id
    route = a.lm.routes.create(project, {"name": "News", "route_type": "broadcast"})["data"]
    message = a.send(route="news", tag="alpha")
    [pixel] = tokens(a.lm.messages.html(message))["o"]
    httpx.get(f"{a.base}/o/{pixel}", headers={"user-agent": CHROME})
    a.promote()
    return {"project": project, "route": route["id"], "message": message}


def reads(ids: dict[str, str]) -> list[str]:
    p, r, m = ids["project"], ids["route"], ids["message"]
    return [
        f"/projects/{p}",
        f"/projects/{p}/routes",
        f"/routes/{r}",
        f"/messages/{m}",
        f"/messages/{m}/events",
        f"/messages/{m}/html",
        f"/messages/{m}/text",
        f"/messages/{m}/source",
    ]


def test_every_read_of_another_teams_things_is_a_404(two: tuple[Site, Site]) -> None:
    a, b = two
    ids = a_world(a)
    nowhere = reads(dict.fromkeys(ids, MISSING))
    for path, missing in zip(reads(ids), nowhere, strict=True):
        if not path.endswith("/text"):  # the email has no text part
            assert a.get(path).status_code == 200, path
        answer = b.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found", path
        assert answer.json() == b.get(missing).json(), path  # indistinguishable


def test_lists_show_only_the_callers_own(two: tuple[Site, Site]) -> None:
    a, b = two
    ids = a_world(a)
    b.send(tag="bravo")
    projects = [p["id"] for p in b.lm.projects.iterate()]
    assert projects == [b.tenant.project.public_id]
    listed = list(b.lm.messages.iterate())
    assert [m["tag"] for m in listed] == ["bravo"]
    for filters in (
        {"project": ids["project"]},
        {"route_id": ids["route"]},
        {"tag": "alpha"},
        {"recipient": "ann@example.org", "tag": "alpha"},
    ):
        assert b.lm.messages.list({"filter": filters})["data"] == [], filters
    assert [m["id"] for m in a.lm.messages.iterate({"filter": {"tag": "alpha"}})] == [
        ids["message"]
    ]


def test_a_cursor_of_another_team_leads_nowhere(two: tuple[Site, Site]) -> None:
    a, b = two
    a.send()
    a.send()
    b.send()
    page = a.lm.messages.list({"page": {"size": 1}})
    assert page["next_cursor"] is not None
    answer = b.get("/messages", **{"page[size]": 1, "page[cursor]": page["next_cursor"]})
    assert answer.status_code == 422
    a.lm.projects.create({"name": "Alpha Two"})
    projects = a.lm.projects.list({"page": {"size": 1}})
    assert projects["next_cursor"] is not None
    refused = b.get("/projects", **{"page[cursor]": projects["next_cursor"]})
    assert refused.status_code == 422


def test_no_change_reaches_another_teams_things(two: tuple[Site, Site]) -> None:
    a, b = two
    ids = a_world(a)
    p, r = ids["project"], ids["route"]
    attempts = [
        ("PUT", f"/projects/{p}", {"name": "Stolen"}),
        ("POST", f"/projects/{p}/routes", {"name": "Backdoor", "route_type": "broadcast"}),
        ("PUT", f"/routes/{r}", {"name": "Stolen"}),
        ("PATCH", f"/routes/{r}", {"track_clicks": False}),
        ("DELETE", f"/routes/{r}", None),
    ]
    for method, path, body in attempts:
        answer = httpx.request(method, f"{b.base}/v1{path}", json=body, headers=b.team)
        assert answer.status_code == 404, (method, path)
    project = a.lm.projects.retrieve(p, {"include": ["routes"]})
    assert project["name"] == "Alpha"
    assert sorted(route["slug"] for route in project["routes"]) == ["news", "outgoing"]
    assert a.lm.routes.retrieve(r)["settings"]["track_clicks"] is True
    # Nor can B make A's route the default of its own project.
    stolen = httpx.put(
        f"{b.base}/v1/projects/{b.tenant.project.public_id}",
        json={"default_route_id": r},
        headers=b.team,
    )
    assert stolen.status_code == 422
    assert a.lm.routes.retrieve(r)["is_default"] is False


def test_the_team_api_wants_a_team_token(two: tuple[Site, Site]) -> None:
    a, _ = two
    stranger = Lettermint(team_token="lm_team_doesnotexist", base_url=f"{a.base}/v1")
    with stranger, pytest.raises(AuthenticationError):
        stranger.projects.list()
    sending = httpx.get(
        f"{a.base}/v1/projects", headers={"authorization": f"Bearer {a.tenant.sending_token}"}
    )
    assert sending.status_code == 403
    assert httpx.get(f"{a.base}/v1/messages").status_code == 401
    confused = Lettermint(team_token=a.tenant.sending_token, base_url=f"{a.base}/v1")
    with confused, pytest.raises(PermissionDeniedError):
        confused.messages.list()
