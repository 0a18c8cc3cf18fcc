"""The webhooks endpoints of the Team API through the official SDK: shapes (docs/contracts.md
1.4-1.6), validation, the address rule at creation, and tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lettermint import NotFoundError, ValidationError

from tests.support.tenants import new_tenant
from tests.webhooks.conftest import Site

pytestmark = pytest.mark.anyio

WEBHOOK_KEYS = {
    *("id", "scope", "project_ids", "route_ids", "route_id", "name", "url", "has_basic_auth"),
    *("events", "enabled", "include_machine_events", "delivery_mode_filter", "last_called_at"),
    *("created_at", "updated_at", "format", "disabled_reason"),
}
DELIVERY_KEYS = {
    *("id", "webhook_id", "event_type", "source_scope", "source_project_id", "source_route_id"),
    *("status", "sandbox", "attempt_number", "http_status_code", "duration_ms", "delivered_at"),
    *("created_at", "next_retry_at"),
}


def refused(site: Site, body: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        site.lm.webhooks.create({"name": "W", "events": ["message.opened"], **body})
    assert error.value.status == 422
    assert error.value.errors is not None
    return error.value.errors


async def test_create_answers_201_with_the_secret_once(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/webhooks",
        json={
            "name": "Orders",
            "url": site.hook_base + "/hook",
            "events": ["message.opened", "message.clicked", "message.opened"],
        },
        headers=site.team,
    )
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"data", "message"}
    created = body["data"]
    assert set(created) == WEBHOOK_KEYS | {"secret"}
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) == len("whsec_") + 44  # base64 of 32 bytes
    assert created["events"] == ["message.opened", "message.clicked"]
    assert (created["scope"], created["format"], created["enabled"]) == ("team", "lettermint", True)
    assert (created["include_machine_events"], created["delivery_mode_filter"]) == (False, "both")
    shown = site.lm.webhooks.retrieve(created["id"])
    assert set(shown) == WEBHOOK_KEYS
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    [listed] = site.lm.webhooks.list()["data"]
    assert set(listed) == WEBHOOK_KEYS - {"include_machine_events"}


async def test_update_changes_only_what_is_given(site: Site) -> None:
    hook = site.create(events=["message.clicked"])
    site.clock.advance(minutes=1)
    changed = site.lm.webhooks.update(
        hook["id"], {"name": "Renamed", "include_machine_events": True}
    )
    data: Any = changed["data"]
    assert changed["message"]
    assert (data["name"], data["include_machine_events"], data["events"]) == (
        "Renamed",
        True,
        ["message.clicked"],
    )
    assert data["updated_at"] != hook["updated_at"]
    lettr: Any = site.lm.webhooks.update(hook["id"], {"format": "lettr"})["data"]
    assert (lettr["format"], lettr["events"]) == ("lettr", ["engagement.click"])
    off: Any = site.lm.webhooks.update(hook["id"], {"enabled": False})["data"]
    assert (off["enabled"], off["disabled_reason"]) == (False, None)
    assert site.lm.webhooks.update(hook["id"], {})["data"]["name"] == "Renamed"


async def test_scopes_name_the_teams_projects_and_routes(site: Site) -> None:
    project_id = site.tenant.project.public_id
    [route] = site.lm.routes.list(project_id)["data"]
    by_route = site.create(route_id=route["id"])
    assert (by_route["scope"], by_route["route_ids"], by_route["route_id"]) == (
        "route",
        [route["id"]],
        route["id"],
    )
    by_project = site.create(project_ids=[project_id])
    assert (by_project["scope"], by_project["project_ids"]) == ("project", [project_id])
    other = new_tenant(site.services.db, site.clock, "Other")
    errors = refused(site, {"url": site.hook_base, "project_ids": [other.project.public_id]})
    assert "project_ids" in errors
    errors = refused(site, {"url": site.hook_base, "scope": "route"})
    assert "route_ids" in errors
    errors = refused(site, {"url": site.hook_base, "scope": "team", "route_ids": [route["id"]]})
    assert "scope" in errors
    found = site.lm.webhooks.list({"filter": {"route_id": route["id"]}})["data"]
    assert [h["id"] for h in found] == [by_route["id"]]


async def test_a_route_webhook_hears_only_its_routes_messages(site: Site) -> None:
    project_id = site.tenant.project.public_id
    news = site.lm.routes.create(project_id, {"name": "News", "route_type": "broadcast"})["data"]
    hook = site.create(route_ids=[news["id"]], events=["message.created"])
    site.send()  # the default route
    news_message = site.send(route="news")
    assert await site.deliver() == 1
    [request] = site.receiver.requests
    assert request.path == "/hook"
    [logged] = site.lm.webhooks.deliveries.list(hook["id"])["data"]
    assert logged["source_route_id"] == news["id"]
    assert news_message in request.body.decode()


async def test_bodies_are_validated(site: Site) -> None:
    url = site.hook_base + "/hook"
    assert "events" in refused(site, {"url": url, "events": []})
    errors = refused(site, {"url": url, "events": ["message.opened", "engagement.click"]})
    assert errors["events"] == ["Unknown lettermint webhook events: engagement.click."]
    assert "url" in refused(site, {"url": "ftp://example.com/hook"})
    errors = refused(site, {"url": "https://user:pw@example.com/hook"})
    assert errors["url"] == ["Put credentials in basic_auth, not in the webhook URL."]
    assert "url" in refused(site, {"url": "https://" + "a" * 500 + ".example"})
    assert "enabled" in refused(site, {"url": url, "enabled": "yes"})
    assert "format" in refused(site, {"url": url, "format": "sendgrid"})


async def test_another_teams_webhooks_are_not_found(site: Site) -> None:
    hook = site.create()
    other = new_tenant(site.services.db, site.clock, "Other")
    headers = {"authorization": f"Bearer {other.team_token}"}
    base = f"{site.base}/v1/webhooks/{hook['id']}"
    for method, path in (
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/test"),
        ("POST", "/regenerate-secret"),
        ("GET", "/deliveries"),
    ):
        answer = httpx.request(method, base + path, headers=headers, json={})
        assert answer.status_code == 404, (method, path)
        assert answer.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{site.base}/v1/webhooks", headers=headers).json()["data"] == []


async def test_delete_removes_the_webhook_and_its_log(site: Site) -> None:
    hook = site.create()
    site.lm.webhooks.test(hook["id"])
    assert site.lm.webhooks.delete(hook["id"])["message"]
    with pytest.raises(NotFoundError):
        site.lm.webhooks.retrieve(hook["id"])
    assert await site.deliver() == 0
    assert site.receiver.requests == []


async def test_webhooks_list_pages_sorts_and_filters(site: Site) -> None:
    for name in ("Delta", "Bravo", "Charlie", "Alpha"):
        site.create(name=name, events=["message.opened"] if name < "C" else ["message.clicked"])
    names = [h["name"] for h in site.lm.webhooks.iterate({"sort": ["name"], "page": {"size": 3}})]
    assert names == ["Alpha", "Bravo", "Charlie", "Delta"]
    first = site.lm.webhooks.list({"sort": ["-name"], "page": {"size": 2}})
    assert first["next_cursor"] is not None
    assert first["next_page_url"] is not None
    assert "cursor=" in first["next_page_url"]
    opened = site.lm.webhooks.list({"filter": {"event": "message.opened"}, "sort": ["name"]})
    assert [h["name"] for h in opened["data"]] == ["Alpha", "Bravo"]
    found = site.lm.webhooks.list({"filter": {"search": "arl"}})["data"]
    assert [h["name"] for h in found] == ["Charlie"]


async def test_deliveries_page_newest_first_and_filter(any_site: Site) -> None:
    site = any_site
    hook = site.create()
    site.receiver.answer(500, path="/hook")
    made = [site.lm.webhooks.test(hook["id"])["delivery_id"] for _ in range(5)]
    assert await site.deliver(limit=1) == 1  # the oldest fails
    listed = [d["id"] for d in site.lm.webhooks.deliveries.iterate(hook["id"])]
    assert listed == made[::-1]
    page: Any = site.lm.webhooks.deliveries.list(hook["id"])
    assert all(set(d) == DELIVERY_KEYS for d in page["data"])
    assert page["next_cursor"] is None
    oldest = site.lm.webhooks.deliveries.list(hook["id"], {"sort": ["created_at"]})["data"][0]
    assert oldest["id"] == made[0]
    failed = site.lm.webhooks.deliveries.list(hook["id"], {"filter": {"status": "server_error"}})
    assert [d["id"] for d in failed["data"]] == [made[0]]
    tests = site.lm.webhooks.deliveries.list(hook["id"], {"filter": {"event_type": "webhook.test"}})
    assert len(tests["data"]) == 5
    answer = httpx.get(
        f"{site.base}/v1/webhooks/{hook['id']}/deliveries",
        params={"filter[status]": "lost"},
        headers=site.team,
    )
    assert answer.status_code == 422
    with pytest.raises(NotFoundError):
        site.lm.webhooks.deliveries.retrieve(hook["id"], "00000000-0000-0000-0000-000000000000")


async def test_private_urls_are_refused_by_default(open_site: Any, sqlite_url: str) -> None:
    async with open_site(sqlite_url, webhook_allow_private_networks="false") as site:
        port = site.hook_base.rsplit(":", 1)[1]
        for url, reason in (
            (f"http://127.0.0.1:{port}/hook", "is a loopback address"),
            (f"http://localhost:{port}/hook", "resolves to"),  # 127.0.0.1 or ::1
            ("http://[::1]/hook", "is a loopback address"),
            ("http://10.0.0.7/hook", "is a private address"),
            ("http://169.254.169.254/latest/meta-data/", "is a cloud metadata address"),
            ("http://100.64.1.1/", "shared (carrier-grade NAT)"),
            ("http://0.0.0.0:8080/", "unspecified"),
        ):
            [message] = refused(site, {"url": url})["url"]
            assert reason in message, url
            assert "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS" in message
        [message] = refused(site, {"url": "https://no-such-host.invalid/hook"})["url"]
        assert "does not resolve" in message
        hook = site.create(url="http://93.184.216.34/hook")  # a public address is fine
        with pytest.raises(ValidationError):
            site.lm.webhooks.update(hook["id"], {"url": f"http://127.0.0.1:{port}/hook"})
