"""Lettermint's Team API end to end: a real server, the official SDK (httpx where the SDK has
no call), a real database; shapes as docs/contracts.md 1.3-1.6 says."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lettermint import ConflictError, Lettermint, NotFoundError, ValidationError
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.smtp.upstream import Outcome, Result
from mailbeacon.store.schema import events as event_rows
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import deliver, promote

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HTML = (
    "<html><body><p>Hi</p>"
    '<a href="https://shop.example/a">First</a> <a href="https://shop.example/b">Second</a>'
    "</body></html>"
)
TRACKING = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")
PAGE_KEYS = {
    "data",
    "path",
    "per_page",
    "next_cursor",
    "next_page_url",
    "prev_cursor",
    "prev_page_url",
}
MESSAGE_LIST_KEYS = {
    "id",
    "type",
    "status",
    "delivery_mode",
    "sandbox_result",
    "scheduled_at",
    "from_email",
    "from_name",
    "subject",
    "to",
    "cc",
    "bcc",
    "reply_to",
    "tag",
    "tags",
    "status_changed_at",
    "created_at",
}


@dataclass
class Site:
    base: str
    services: Services
    tenant: Tenant
    lm: Lettermint

    @property
    def team(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.team_token}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base}/v1{path}", params=params, headers=self.team)

    def send(self, **fields: Any) -> str:
        body = {
            "from": "Shop <shop@shop.example>",
            "to": ["ann@example.org"],
            "subject": "Hello",
            "html": HTML,
            **fields,
        }
        return str(self.lm.emails.send(body)["message_id"])

    def promote(self) -> None:
        self.services.clock.advance(seconds=6)
        promote(self.services)


def open_site(base: str, services: Services, name: str = "Acme") -> Site:
    tenant = new_tenant(services.db, services.clock, name)
    client = Lettermint(
        sending_token=tenant.sending_token, team_token=tenant.team_token, base_url=f"{base}/v1"
    )
    return Site(base, services, tenant, client)


@pytest.fixture
def site(running: Callable[..., Any], sqlite_url: str) -> Iterator[Site]:
    with running(sqlite_url) as (base, services):
        opened = open_site(base, services)
        with opened.lm:
            yield opened


@pytest.fixture
def any_site(running: Callable[..., Any], database_url: str) -> Iterator[Site]:
    """The same, on SQLite and on PostgreSQL."""
    with running(database_url) as (base, services):
        opened = open_site(base, services)
        with opened.lm:
            yield opened


def tokens(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"o": [], "c": []}
    for kind, token in TRACKING.findall(html):
        found[kind].append(token)
    return found


class ScriptedUpstream:
    """A Sender (smtp/upstream.py) that answers per recipient: 550 for addresses starting
    with "bounce", 250 otherwise."""

    name = "scripted"

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        if recipient.startswith("bounce"):
            return Result(Outcome.PERMANENT, "550 5.1.1 no such user")
        return Result(Outcome.DELIVERED, "250 2.0.0 queued as 1234")

    async def aclose(self) -> None:
        return None


# --- projects ---------------------------------------------------------------------------------


def test_projects_list_is_a_cursor_page_of_the_teams_projects(site: Site) -> None:
    site.send()
    site.send(to=["bob@example.org"])
    page = site.lm.projects.list()
    assert set(page) == PAGE_KEYS
    assert page["next_cursor"] is None
    [project] = page["data"]
    assert project == {
        "id": site.tenant.project.public_id,
        "name": "Acme",
        "delivery_mode": "live",
        "smtp_enabled": True,
        "routes_count": 1,
        "domains_count": 0,
        "last_28_days": {
            "messages_transactional": 2,
            "messages_broadcast": 0,
            "messages_inbound": 0,
            "deliverability": 0.0,
        },
        "created_at": "2026-11-23T12:00:00.000Z",
        "updated_at": "2026-11-23T12:00:00.000Z",
    }


def test_creating_a_project_answers_201_with_a_sending_token_that_sends(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/projects",
        json={"name": "Newsroom", "initial_routes": "both", "redact_email_content": True},
        headers=site.team,
    )
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"data", "message", "api_token"}
    project = body["data"]
    assert project["name"] == "Newsroom"
    assert project["redact_email_content"] is True
    slugs = {r["slug"]: r for r in project["routes"]}
    assert set(slugs) == {"outgoing", "broadcast"}
    assert project["default_route_id"] == slugs["outgoing"]["id"]
    assert slugs["outgoing"]["is_default"] is True
    assert slugs["broadcast"]["is_default"] is False
    assert re.fullmatch(r"lm_[0-9A-Za-z]+", body["api_token"])
    with Lettermint(body["api_token"], base_url=f"{site.base}/v1") as sender:  # positional
        sent = sender.emails.send(
            {"from": "a@news.example", "to": ["x@example.org"], "subject": "S", "text": "hi"}
        )
    assert sent["status"] == "pending"
    listed = site.lm.messages.list({"filter": {"project": project["id"]}})["data"]
    assert [m["id"] for m in listed] == [sent["message_id"]]


def test_a_broadcast_only_project_defaults_to_its_broadcast_route(site: Site) -> None:
    created = site.lm.projects.create({"name": "Letters", "initial_routes": "broadcast"})
    [route] = created["data"]["routes"]
    assert route["route_type"] == "broadcast"
    assert created["data"]["default_route_id"] == route["id"]


def test_retrieve_is_a_bare_project_with_the_includes_asked_for(site: Site) -> None:
    project_id = site.tenant.project.public_id
    bare = site.lm.projects.retrieve(project_id)
    assert bare["id"] == project_id
    assert "routes" not in bare
    assert bare["token_last_used_at"] is None
    full = site.lm.projects.retrieve(project_id, {"include": ["routes", "routesCount"]})
    assert full["routes_count"] == 1
    [route] = full["routes"]
    assert route["slug"] == "outgoing"
    assert full["default_route_id"] == route["id"]
    with pytest.raises(ValidationError) as refused:
        site.lm.projects.retrieve(project_id, {"include": ["secrets"]})
    assert refused.value.errors is not None
    assert "include" in refused.value.errors


def test_update_project_changes_only_what_is_given(site: Site) -> None:
    project_id = site.tenant.project.public_id
    site.services.clock.advance(minutes=5)
    updated = site.lm.projects.update(
        project_id, {"name": "Acme Mail", "smtp_enabled": False, "delivery_mode": "sandbox"}
    )
    assert updated["message"]
    data = updated["data"]
    assert (data["name"], data["smtp_enabled"], data["delivery_mode"]) == (
        "Acme Mail",
        False,
        "sandbox",
    )
    assert data["redact_email_content"] is False
    assert data["updated_at"] == "2026-11-23T12:05:00.000Z"
    unchanged = site.lm.projects.update(project_id, {})["data"]
    assert unchanged["name"] == "Acme Mail"


def test_the_default_route_can_move_to_another_sending_route_only(site: Site) -> None:
    project_id = site.tenant.project.public_id
    news = site.lm.routes.create(project_id, {"name": "News", "route_type": "broadcast"})["data"]
    inbound = site.lm.routes.create(project_id, {"name": "In", "route_type": "inbound"})["data"]
    moved = site.lm.projects.update(project_id, {"default_route_id": news["id"]})["data"]
    assert moved["default_route_id"] == news["id"]
    routes = {r["slug"]: r["is_default"] for r in site.lm.routes.iterate(project_id)}
    assert routes == {"outgoing": False, "news": True, "in": False}
    sent = site.send()  # no route named: the new default
    assert site.lm.messages.retrieve(sent)["route_id"] == news["id"]
    for wrong in (inbound["id"], "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(ValidationError) as refused:
            site.lm.projects.update(project_id, {"default_route_id": wrong})
        assert refused.value.errors is not None
        assert "default_route_id" in refused.value.errors


def test_projects_page_by_cursor_in_any_supported_order(site: Site) -> None:
    for name in ("Delta", "Bravo", "Charlie"):
        site.lm.projects.create({"name": name})
    names = [p["name"] for p in site.lm.projects.iterate({"sort": ["name"], "page": {"size": 2}})]
    assert names == ["Acme", "Bravo", "Charlie", "Delta"]
    first = site.lm.projects.list({"sort": ["-name"], "page": {"size": 3}})
    assert [p["name"] for p in first["data"]] == ["Delta", "Charlie", "Bravo"]
    assert first["prev_cursor"] is None
    assert first["next_cursor"] is not None
    second = site.lm.projects.list(
        {"sort": ["-name"], "page": {"size": 3, "cursor": first["next_cursor"]}}
    )
    assert [p["name"] for p in second["data"]] == ["Acme"]
    assert second["next_cursor"] is None
    assert second["prev_cursor"] is not None
    back = site.lm.projects.list(
        {"sort": ["-name"], "page": {"size": 3, "cursor": second["prev_cursor"]}}
    )
    assert [p["name"] for p in back["data"]] == ["Delta", "Charlie", "Bravo"]
    found = site.lm.projects.list({"filter": {"search": "arl"}})["data"]
    assert [p["name"] for p in found] == ["Charlie"]


# --- routes -----------------------------------------------------------------------------------


def test_a_route_takes_nested_settings_and_echoes_every_setting(site: Site) -> None:
    project_id = site.tenant.project.public_id
    answer = httpx.post(
        f"{site.base}/v1/projects/{project_id}/routes",
        json={
            "name": "Receipts",
            "route_type": "transactional",
            "settings": {
                "track_opens": False,
                "track_clicks": True,
                "tls": "enforced",
                "generate_plaintext_fallback": True,
                "honeypot_link": False,
                "future_setting": "kept",
            },
        },
        headers=site.team,
    )
    assert answer.status_code == 201
    created = answer.json()
    assert set(created) == {"data", "message"}
    route = created["data"]
    assert route["slug"] == "receipts"
    assert route["project_id"] == project_id
    assert route["is_default"] is False
    assert route["settings"] == {
        "track_opens": False,
        "track_clicks": True,
        "tls": "enforced",
        "generate_plaintext_fallback": True,
        "honeypot_link": False,
        "future_setting": "kept",
    }
    assert site.lm.routes.retrieve(route["id"]) == route


def test_flat_settings_and_patch_with_flat_track_clicks(site: Site) -> None:
    project_id = site.tenant.project.public_id
    route = site.lm.routes.create(
        project_id,
        {"name": "Alerts", "route_type": "transactional", "track_clicks": False},
    )["data"]
    assert (route["settings"]["track_opens"], route["settings"]["track_clicks"]) == (True, False)
    patched = httpx.patch(
        f"{site.base}/v1/routes/{route['id']}", json={"track_clicks": True}, headers=site.team
    )
    assert patched.status_code == 200
    assert patched.json()["data"]["settings"]["track_clicks"] is True
    assert site.lm.routes.retrieve(route["id"])["settings"]["track_clicks"] is True
    renamed = site.lm.routes.update(
        route["id"], {"name": "Alarms", "settings": {"tls": "enforced"}}
    )
    assert renamed["data"]["name"] == "Alarms"
    assert renamed["data"]["settings"]["tls"] == "enforced"
    assert renamed["data"]["settings"]["track_clicks"] is True
    cleared = site.lm.routes.update(route["id"], {"settings": {"tls": None}})
    assert "tls" not in cleared["data"]["settings"]


def test_nested_and_flat_settings_that_disagree_are_refused(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/projects/{site.tenant.project.public_id}/routes",
        json={
            "name": "Mixed",
            "route_type": "broadcast",
            "track_opens": True,
            "settings": {"track_opens": False},
        },
        headers=site.team,
    )
    assert answer.status_code == 422
    assert "track_opens" in answer.json()["errors"]


def test_an_inbound_route_never_tracks(site: Site) -> None:
    project_id = site.tenant.project.public_id
    for body in (
        {"name": "In", "route_type": "inbound", "settings": {"track_opens": True}},
        {"name": "In", "route_type": "inbound", "track_clicks": True},
    ):
        with pytest.raises(ValidationError) as refused:
            site.lm.routes.create(project_id, body)
        assert refused.value.status == 422
    inbound = site.lm.routes.create(
        project_id, {"name": "In", "route_type": "inbound", "inbound_domain": "in.acme.example"}
    )["data"]
    assert inbound["settings"]["track_opens"] is False
    assert inbound["settings"]["track_clicks"] is False
    assert inbound["inbound_domain"] == "in.acme.example"
    answer = httpx.patch(
        f"{site.base}/v1/routes/{inbound['id']}", json={"track_opens": True}, headers=site.team
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"
    assert "track_opens" in answer.json()["errors"]
    off = site.lm.routes.update(inbound["id"], {"settings": {"track_opens": False}})
    assert off["data"]["settings"]["track_opens"] is False


def test_the_default_route_cannot_be_deleted_but_others_can(site: Site) -> None:
    project_id = site.tenant.project.public_id
    [default] = site.lm.routes.list(project_id)["data"]
    with pytest.raises(ValidationError):
        site.lm.routes.delete(default["id"])
    assert site.lm.routes.retrieve(default["id"])["is_default"] is True
    other = site.lm.routes.create(project_id, {"name": "Old", "route_type": "broadcast"})["data"]
    message_id = site.send(route="old")
    assert site.lm.routes.delete(other["id"])["message"]
    with pytest.raises(NotFoundError):
        site.lm.routes.retrieve(other["id"])
    kept = site.lm.messages.retrieve(message_id)
    assert kept["route_id"] is None  # the message stays, its route is gone


def test_slugs_are_validated_and_unique_in_a_project(site: Site) -> None:
    project_id = site.tenant.project.public_id
    made = site.lm.routes.create(
        project_id, {"name": "Any", "route_type": "broadcast", "slug": "promo-1"}
    )
    assert made["data"]["slug"] == "promo-1"
    with pytest.raises(ConflictError):
        site.lm.routes.create(
            project_id, {"name": "Two", "route_type": "broadcast", "slug": "promo-1"}
        )
    with pytest.raises(ConflictError):
        site.lm.routes.create(
            project_id, {"name": "Three", "route_type": "broadcast", "slug": "outgoing"}
        )
    for bad in ("Promo", "promo_2", "-promo", ""):
        with pytest.raises(ValidationError) as refused:
            site.lm.routes.create(project_id, {"name": "X", "route_type": "broadcast", "slug": bad})
        assert refused.value.errors is not None
        assert "slug" in refused.value.errors
    twin = site.lm.routes.create(project_id, {"name": "Promo 1", "route_type": "broadcast"})
    assert twin["data"]["slug"] == "promo-1-2"  # a slug made from the name steps aside
    changed = httpx.put(
        f"{site.base}/v1/routes/{made['data']['id']}", json={"slug": "other"}, headers=site.team
    )
    assert changed.status_code == 422
    assert "slug" in changed.json()["errors"]


def test_routes_list_filters_and_pages(site: Site) -> None:
    project_id = site.tenant.project.public_id
    for name in ("News", "Digest", "Inbox"):
        kind = "inbound" if name == "Inbox" else "broadcast"
        site.lm.routes.create(project_id, {"name": name, "route_type": kind})
    page = site.lm.routes.list(project_id, {"page": {"size": 2}})
    assert set(page) == PAGE_KEYS
    assert [r["slug"] for r in page["data"]] == ["outgoing", "news"]
    assert set(page["data"][0]) == {
        "id",
        "slug",
        "name",
        "route_type",
        "is_default",
        "webhooks_count",
        "suppressed_recipients_count",
        "created_at",
        "updated_at",
    }
    every = [r["slug"] for r in site.lm.routes.iterate(project_id, {"page": {"size": 2}})]
    assert every == ["outgoing", "news", "digest", "inbox"]
    broadcast = site.lm.routes.list(project_id, {"filter": {"route_type": "broadcast"}})
    assert [r["slug"] for r in broadcast["data"]] == ["news", "digest"]
    default = site.lm.routes.list(project_id, {"filter": {"is_default": True}})
    assert [r["slug"] for r in default["data"]] == ["outgoing"]
    by_slug = site.lm.routes.list(project_id, {"sort": ["-slug"]})
    assert [r["slug"] for r in by_slug["data"]] == ["outgoing", "news", "inbox", "digest"]


# --- per-email tracking overrides, in Lettermint's words -------------------------------------


def test_per_email_settings_override_the_route_both_ways(site: Site) -> None:
    project_id = site.tenant.project.public_id
    site.lm.routes.create(
        project_id,
        {
            "name": "Quiet",
            "route_type": "transactional",
            "settings": {"track_opens": False, "track_clicks": False},
        },
    )
    plain = tokens(site.lm.messages.html(site.send(route="quiet")))
    assert plain == {"o": [], "c": []}
    asked = tokens(site.lm.messages.html(site.send(route="quiet", settings={"track_opens": True})))
    assert len(asked["o"]) == 1
    assert asked["c"] == []  # clicks still follow the route
    tracked = tokens(site.lm.messages.html(site.send()))  # the default route tracks both
    assert len(tracked["o"]) == 1
    assert len(tracked["c"]) == 3  # the honeypot and two links
    no_pixel = tokens(site.lm.messages.html(site.send(settings={"track_opens": False})))
    assert no_pixel["o"] == []
    assert len(no_pixel["c"]) == 3


def test_a_route_without_the_honeypot_sends_copies_without_it(site: Site) -> None:
    project_id = site.tenant.project.public_id
    site.lm.routes.create(
        project_id,
        {"name": "Clean", "route_type": "transactional", "honeypot_link": False},
    )
    found = tokens(site.lm.messages.html(site.send(route="clean")))
    assert len(found["c"]) == 2


# --- messages ---------------------------------------------------------------------------------


def test_messages_page_newest_first_across_pages(any_site: Site) -> None:
    site = any_site
    sent = [site.send(subject=f"Number {n}") for n in range(7)]
    page = site.lm.messages.list({"page": {"size": 3}})
    assert set(page) == PAGE_KEYS
    assert page["per_page"] == 3
    assert page["path"] == f"{site.base}/v1/messages"
    assert set(page["data"][0]) == MESSAGE_LIST_KEYS
    assert [m["id"] for m in page["data"]] == sent[::-1][:3]
    assert page["prev_cursor"] is None
    assert page["next_page_url"] is not None
    assert "page%5Bcursor%5D=" in page["next_page_url"]
    assert "page%5Bsize%5D=3" in page["next_page_url"]
    middle = httpx.get(page["next_page_url"], headers=site.team).json()
    assert [m["id"] for m in middle["data"]] == sent[::-1][3:6]
    back = site.lm.messages.list({"page": {"size": 3, "cursor": middle["prev_cursor"]}})
    assert [m["id"] for m in back["data"]] == sent[::-1][:3]
    assert back["prev_cursor"] is None
    last = site.lm.messages.list({"page": {"size": 3, "cursor": middle["next_cursor"]}})
    assert [m["id"] for m in last["data"]] == [sent[0]]
    assert last["next_cursor"] is None
    assert [m["id"] for m in site.lm.messages.iterate({"page": {"size": 2}})] == sent[::-1]
    oldest_first = site.lm.messages.iterate({"sort": ["created_at"], "page": {"size": 4}})
    assert [m["id"] for m in oldest_first] == sent


def test_a_cursor_that_is_not_ours_is_refused(site: Site) -> None:
    site.send()
    for cursor in (
        "garbage",
        "bmV4dDpub3BlCg",
        "bmV4dDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",
    ):
        answer = site.get("/messages", **{"page[cursor]": cursor})
        assert answer.status_code == 422
        assert "page[cursor]" in answer.json()["errors"]
    assert site.get("/messages", **{"page[size]": 0}).status_code == 422
    assert site.get("/messages", **{"page[size]": 101}).status_code == 422


def test_messages_filters(any_site: Site) -> None:
    site = any_site
    project_id = site.tenant.project.public_id
    news = site.lm.routes.create(project_id, {"name": "News", "route_type": "broadcast"})["data"]
    first = site.send(tag="welcome", to=["Ann <ann@example.org>"], subject="Welcome aboard")
    second = site.send(
        route="news", to=["dan@example.org"], cc=["Bob@Example.org"], subject="Weekly news"
    )
    third = site.send(
        **{"from": "billing@shop.example"}, to=["erin@example.org"], bcc=["carol@example.org"]
    )
    site.services.clock.advance(days=2)
    fourth = site.send(to=["bounce@example.org"], subject="Later")

    def ids(**filters: Any) -> list[str]:
        return [m["id"] for m in site.lm.messages.iterate({"filter": filters})]

    assert ids(tag="welcome") == [first]
    assert ids(route_id=news["id"]) == [second]
    assert ids(recipient="bob@example.org") == [second]  # cc, any letter case
    assert ids(recipient="carol@example.org") == [third]  # bcc
    assert ids(project=project_id) == [fourth, third, second, first]
    assert ids(from_email="billing@") == [third]
    assert ids(subject="news") == [second]
    assert ids(search="ann@example.org") == [first]
    assert ids(search="weekly") == [second]
    assert ids(from_date="2026-11-25") == [fourth]
    assert ids(to_date="2026-11-23") == [third, second, first]
    assert ids(from_date="2026-11-23T12:00:01Z") == [fourth]
    assert ids(type="inbound") == []
    assert ids(delivery_mode="sandbox") == []
    site.lm.projects.update(project_id, {"delivery_mode": "sandbox"})
    assert ids(delivery_mode="sandbox") == [fourth, third, second, first]
    assert ids(status="queued") == [fourth, third, second, first]
    assert ids(tag="none-such") == []
    refused = site.get("/messages", **{"filter[status]": "exploded"})
    assert refused.status_code == 422
    assert "filter[status]" in refused.json()["errors"]
    assert site.get("/messages", **{"filter[from_date]": "soon"}).status_code == 422


def test_delivery_outcomes_in_lettermint_words(any_site: Site) -> None:
    site = any_site
    delivered = site.send(to=["ann@example.org"])
    failed = site.send(to=["bounce@example.org"])
    asyncio.run(deliver(site.services, ScriptedUpstream()))
    assert site.lm.messages.retrieve(delivered)["status"] == "delivered"
    assert site.lm.messages.retrieve(failed)["status"] == "failed"
    assert [m["id"] for m in site.lm.messages.iterate({"filter": {"status": "delivered"}})] == [
        delivered
    ]
    assert [m["id"] for m in site.lm.messages.iterate({"filter": {"status": "failed"}})] == [failed]
    good = site.lm.messages.events(delivered)["data"]
    assert [e["event"] for e in good] == ["queued", "delivered"]
    assert good[1]["metadata"]["recipient"] == "ann@example.org"
    assert good[1]["metadata"]["response"] == "250 2.0.0 queued as 1234"
    bad = site.lm.messages.events(failed)["data"]
    assert [e["event"] for e in bad] == ["queued", "failed", "hard_bounced"]
    assert bad[1]["metadata"]["reason"] == "550 5.1.1 no such user"
    assert bad[2]["metadata"]["response"] == "550 5.1.1 no such user"
    assert bad[2]["metadata"]["out_of_band"] is False
    [recipient] = site.lm.messages.retrieve(failed)["recipients"]
    assert recipient == {
        "email": "bounce@example.org",
        "kind": "to",
        "status": "failed",
        "attempts": 1,
        "last_error": "550 5.1.1 no such user",
        "delivered_at": None,
    }


def test_a_captured_copy_is_processed_not_delivered(site: Site) -> None:
    from mailbeacon.smtp.upstream import Capture

    message_id = site.send()
    asyncio.run(deliver(site.services, Capture()))
    assert site.lm.messages.retrieve(message_id)["status"] == "processed"
    events = site.lm.messages.events(message_id)["data"]
    assert [e["event"] for e in events] == ["queued", "processed"]
    listed = site.lm.messages.list({"filter": {"status": "processed"}})["data"]
    assert [m["id"] for m in listed] == [message_id]


def test_retrieve_a_message_with_its_route_metadata_attachments_and_recipients(
    site: Site,
) -> None:
    message_id = site.send(
        to=["Ann <ann@example.org>"],
        cc=["bob@example.org"],
        bcc=["carol@example.org"],
        reply_to=["help@shop.example"],
        tag="receipt",
        tags=[{"name": "order", "value": "A-42"}],
        metadata={"order": "42"},
        attachments=[{"filename": "a.txt", "content": "aGVsbG8=", "content_type": "text/plain"}],
    )
    message = site.lm.messages.retrieve(message_id)
    assert set(message) == MESSAGE_LIST_KEYS | {
        *("attachments", "metadata", "route_id", "recipients", "links", "link_changes")
    }
    [route] = site.lm.routes.list(site.tenant.project.public_id)["data"]
    assert message["route_id"] == route["id"]
    assert message["metadata"] == {"order": "42"}
    assert message["attachments"] == [
        {"size": 5, "filename": "a.txt", "content_id": None, "content_type": "text/plain"}
    ]
    assert message["to"] == [{"email": "ann@example.org", "name": "Ann", "sandbox_result": None}]
    assert message["reply_to"] == ["help@shop.example"]
    assert message["tags"] == [{"name": "order", "value": "A-42"}]
    assert (message["type"], message["status"], message["tag"]) == ("outbound", "queued", "receipt")
    recipients = message["recipients"]
    assert [(r["email"], r["kind"], r["status"]) for r in recipients] == [
        ("ann@example.org", "to", "queued"),
        ("bob@example.org", "cc", "queued"),
        ("carol@example.org", "bcc", "queued"),
    ]


def stored_verdicts(site: Site, event_type: str) -> list[dict[str, Any]]:
    """The verdicts the promoter stored, oldest first, as the API's "bot" object names them."""
    with site.services.db.read() as conn:
        rows = conn.execute(
            select(event_rows).where(event_rows.c.type == event_type).order_by(event_rows.c.id)
        ).all()
    return [
        {
            "detected": row.classification != "genuine",
            "probability": row.probability,
            "classification": row.classification,
            "proxy_type": row.proxy_type,
            "reason_codes": row.reason_codes,
            "machine": row.machine,
            "counts_for_metrics": row.counts_for_metrics,
        }
        for row in rows
    ]


def test_engagement_events_carry_their_verdicts(site: Site) -> None:
    message_id = site.send()
    honeypot, first, _second = tokens(site.lm.messages.html(message_id))["c"]
    [pixel] = tokens(site.lm.messages.html(message_id))["o"]
    person = {"user-agent": CHROME, "accept-language": "en-GB,en;q=0.9"}
    httpx.get(f"{site.base}/o/{pixel}", headers=person)
    httpx.get(f"{site.base}/c/{first}", headers=person)
    site.services.clock.advance(hours=1)  # the machines come later, on their own
    httpx.head(f"{site.base}/c/{first}", headers={"user-agent": "curl/8.5.0"})
    httpx.get(f"{site.base}/c/{honeypot}", headers={"user-agent": "LinkChecker/1.0"})
    site.promote()
    people = site.lm.messages.events(message_id)["data"]
    assert [e["event"] for e in people] == ["queued", "opened", "clicked"]
    opened, clicked = people[1]["metadata"], people[2]["metadata"]
    assert opened is not None
    assert clicked is not None
    assert people[1]["message_id"] == message_id
    assert (opened["first_open"], opened["recipient"]) == (True, "ann@example.org")
    assert people[1]["timestamp"] == "2026-11-23T12:00:00.000Z"
    assert opened["opened_at"] == "2026-11-23T12:00:00+00:00"  # Lettermint's example's form
    assert "destination_url" not in opened
    assert {k: clicked[k] for k in ("destination_url", "link_index", "anchor_text")} == {
        "destination_url": "https://shop.example/a",
        "link_index": 0,
        "anchor_text": "First",
    }
    assert (clicked["first_click"], clicked["classification"], clicked["counts_for_metrics"]) == (
        True,
        "human",
        True,
    )
    assert (clicked["client_name"], clicked["device_type"], clicked["user_agent"]) == (
        "Chrome",
        "desktop",
        CHROME,
    )
    assert clicked["engagement"]["classification"] == "human"
    assert clicked["bot"]["machine"] is False
    everything = site.lm.messages.events(message_id, {"include_machine_events": True})["data"]
    assert [e["event"] for e in everything] == ["queued", "opened", "clicked", "clicked", "clicked"]
    shown = [e["metadata"]["bot"] for e in everything if e["event"] == "clicked"]
    assert shown == stored_verdicts(site, "message.clicked")
    head, trap = (e["metadata"] for e in everything[3:])
    assert head is not None
    assert trap is not None
    assert (head["bot"]["machine"], head["counts_for_metrics"], head["first_click"]) == (
        True,
        False,
        False,
    )
    assert head["classification"] in ("bot", "scanner")
    assert "request_shape" in head["reason_codes"]
    assert head["engagement"]["reason_codes"] == head["reason_codes"]
    assert (trap["honeypot"], trap["bot"]["machine"], trap["bot"]["detected"]) == (True, True, True)
    assert trap["link_index"] is None
    assert "honeypot" in " ".join(trap["details"])


def test_events_page_and_sort(site: Site) -> None:
    message_id = site.send()
    [pixel] = tokens(site.lm.messages.html(message_id))["o"]
    for _ in range(4):
        httpx.get(f"{site.base}/o/{pixel}", headers={"user-agent": CHROME, "accept-language": "en"})
    site.promote()
    every = list(site.lm.messages.iterate_events(message_id, {"page": {"size": 2}}))
    assert [e["event"] for e in every] == ["queued"] + ["opened"] * 4
    assert [e["metadata"]["first_open"] for e in every[1:]] == [True, False, False, False]
    newest = site.lm.messages.events(message_id, {"sort": ["-timestamp"], "page": {"size": 5}})
    assert [e["event"] for e in newest["data"]] == ["opened"] * 4 + ["queued"]
    refused = site.get(f"/messages/{message_id}/events", sort="event")
    assert refused.status_code == 422


def test_content_is_each_recipients_instrumented_copy(site: Site) -> None:
    message_id = site.send(to=["ann@example.org", "bob@example.org"], text="Hi in plain text")
    first = site.lm.messages.html(message_id)
    ann = site.get(f"/messages/{message_id}/html", recipient="ann@example.org")
    bob = site.get(f"/messages/{message_id}/html", recipient="BOB@example.org")
    assert ann.headers["content-type"] == "text/html; charset=utf-8"
    assert ann.text == first
    assert tokens(ann.text)["c"]
    assert set(tokens(ann.text)["c"]).isdisjoint(tokens(bob.text)["c"])
    assert tokens(ann.text)["o"] != tokens(bob.text)["o"]
    assert '<a href="http://t.example.test/c/' in bob.text
    # the part as the copy holds it: decoded, with the message's CRLF line ends
    assert site.lm.messages.text(message_id) == "Hi in plain text\r\n"
    source = site.get(f"/messages/{message_id}/source", recipient="bob@example.org")
    assert source.headers["content-type"] == "message/rfc822"
    assert tokens(bob.text)["o"][0] in source.text.replace("=\r\n", "").replace("=\n", "")
    assert site.lm.messages.source(message_id).startswith("From: Shop <shop@shop.example>")
    stranger = site.get(f"/messages/{message_id}/html", recipient="eve@example.org")
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "not_found"


def test_a_missing_part_is_a_json_404(site: Site) -> None:
    html_only = site.send()
    with pytest.raises(NotFoundError):
        site.lm.messages.text(html_only)
    text_only = site.send(html=None, text="just text")
    answer = site.get(f"/messages/{text_only}/html")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["message"] == "The message has no HTML part."


def test_a_project_that_redacts_content_does_not_show_it(site: Site) -> None:
    message_id = site.send()
    site.lm.projects.update(site.tenant.project.public_id, {"redact_email_content": True})
    for part in ("html", "text", "source"):
        answer = site.get(f"/messages/{message_id}/{part}")
        assert answer.status_code == 410
        assert answer.json()["error"]["code"] == "content_redacted"
