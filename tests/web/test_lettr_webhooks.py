"""Lettr's webhooks under /api through the official SDK: the same webhooks as the Team API's,
seen through one project's key, delivering SparkPost's batches."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import lettr
import pytest

from mailbeacon.app import build_dispatcher
from mailbeacon.service import webhooks as service
from mailbeacon.smtp.upstream import Capture
from tests.support.lettr import EACH_DB, Api
from tests.support.receiver import receiving
from tests.support.workers import deliver

HOOK = "http://127.0.0.1:9/lettr"


def create(api: Api, **fields: Any) -> lettr.Webhook:
    given: dict[str, Any] = {
        "name": "Orders",
        "url": HOOK,
        "auth_type": "none",
        "events_mode": "all",
        **fields,
    }
    return api.client.webhooks.create(**given)


@EACH_DB
def test_a_webhook_is_created_read_changed_and_deleted(api: Api) -> None:
    everything = create(api)
    assert (everything.name, everything.url, everything.enabled) == ("Orders", HOOK, True)
    assert everything.event_types is None  # events_mode all, as Lettr answers it
    assert (everything.auth_type, everything.has_auth_credentials) == ("none", False)
    assert (everything.last_status, everything.last_successful_at) == (None, None)
    chosen = create(
        api,
        name="Clicks",
        url=HOOK + "/2",
        events_mode="selected",
        events=["delivery", "engagement.click", "engagament.open"],  # short and legacy names
        auth_type="basic",
        auth_username="ann",
        auth_password="s3cret",
    )
    assert chosen.event_types == ["message.delivery", "engagement.click", "engagement.open"]
    assert (chosen.auth_type, chosen.has_auth_credentials) == ("basic", True)
    assert api.client.webhooks.get(chosen.id) == chosen
    assert [w.id for w in api.client.webhooks.list()] == [everything.id, chosen.id]

    changed = api.client.webhooks.update(
        chosen.id, name="Opens", url=HOOK + "/3", events=["engagement.open"], active=False
    )
    assert (changed.name, changed.url, changed.enabled) == ("Opens", HOOK + "/3", False)
    assert changed.event_types == ["engagement.open"]
    assert changed.has_auth_credentials is True  # not named: kept
    plain = api.client.webhooks.update(chosen.id, auth_type="none", active=True)
    assert (plain.auth_type, plain.has_auth_credentials, plain.enabled) == ("none", False, True)
    assert api.client.webhooks.get(chosen.id) == plain

    assert api.client.webhooks.delete(chosen.id) is None
    with pytest.raises(lettr.NotFoundError):
        api.client.webhooks.get(chosen.id)
    assert [w.id for w in api.client.webhooks.list()] == [everything.id]


def test_the_raw_answers_are_lettrs(api: Api) -> None:
    created = api.call("POST", "/webhooks", {**_body(), "events_mode": "all"})
    assert created.status_code == 201
    assert created.json()["message"] == "Webhook created successfully."
    assert set(created.json()["data"]) == {
        *("id", "name", "url", "enabled", "event_types", "auth_type"),
        *("has_auth_credentials", "last_successful_at", "last_failure_at", "last_status"),
    }
    deleted = api.call("DELETE", f"/webhooks/{created.json()['data']['id']}")
    assert (deleted.status_code, deleted.json()) == (
        200,
        {"message": "Webhook deleted successfully."},
    )


def test_a_url_already_hooked_is_a_conflict(api: Api) -> None:
    create(api)
    with pytest.raises(lettr.ConflictError) as caught:
        create(api, name="Again")
    assert caught.value.error_code == "resource_already_exists"


@EACH_DB
def test_another_projects_key_sees_none_of_the_webhooks(api: Api) -> None:
    mine = create(api)
    other = api.other()
    theirs = other.webhooks.create(name="T", url=HOOK, auth_type="none", events_mode="all")
    assert [w.id for w in other.webhooks.list()] == [theirs.id]
    assert [w.id for w in api.client.webhooks.list()] == [mine.id]
    for call in (
        lambda: other.webhooks.get(mine.id),
        lambda: other.webhooks.update(mine.id, name="Mine now"),
        lambda: other.webhooks.delete(mine.id),
    ):
        with pytest.raises(lettr.NotFoundError):
            call()
    assert api.client.webhooks.get(mine.id).name == "Orders"
    other.close()


def test_a_webhook_the_team_made_for_all_projects_is_not_this_keys(api: Api) -> None:
    services = api.services
    team_wide = service.create_webhook(
        services.db,
        api.tenant.team,
        services.clock.now(),
        service.NewWebhook(name="All", url=HOOK, events=["message.sent"], format="lettr"),
        allow_private=True,
    )
    assert api.client.webhooks.list() == []
    with pytest.raises(lettr.NotFoundError):
        api.client.webhooks.delete(team_wide.public_id)


def _body(**fields: Any) -> dict[str, Any]:
    return {"name": "Orders", "url": HOOK, "auth_type": "none", **fields}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK, "auth_type": "none", "events_mode": "all"}, "name"),
        (_body(), "events_mode"),
        (_body(events_mode="some"), "events_mode"),
        (_body(events_mode="selected"), "events"),
        (_body(events_mode="selected", events=["engagement.stare"]), "events"),
        (_body(events_mode="all", auth_type="oauth2"), "auth_type"),
        (_body(events_mode="all", auth_type="basic", auth_username="ann"), "auth_password"),
        (_body(events_mode="all", url="ftp://hooks.example/x"), "url"),
        (_body(events_mode="all", url="http://" + "h" * 500 + ".example/"), "url"),
    ],
)
def test_bad_webhooks_are_a_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    answer = api.call("POST", "/webhooks", body)
    assert answer.status_code == 422
    assert answer.json()["error_code"] == "validation_error"
    assert field in answer.json()["errors"], answer.json()
    assert api.client.webhooks.list() == []


def test_bad_updates_are_a_422_too(api: Api) -> None:
    hook = create(api)
    for body, field in [
        ({"url": HOOK + "/a", "target": HOOK + "/b"}, "target"),
        ({"events": []}, "events"),
        ({"active": "yes"}, "active"),
        ({"auth_username": "ann"}, "auth_type"),  # credentials for a webhook without auth
    ]:
        answer = api.call("PUT", f"/webhooks/{hook.id}", body)
        assert answer.status_code == 422, body
        assert field in answer.json()["errors"], answer.json()
    not_json = api.call("PUT", f"/webhooks/{hook.id}", ["name"])
    assert not_json.status_code == 422
    assert api.client.webhooks.get(hook.id) == hook


async def dispatch(api: Api) -> int:
    """One pass of the webhook dispatcher: how many deliveries it attempted."""
    dispatcher = build_dispatcher(api.services)
    try:
        return await dispatcher.run_once()
    finally:
        await dispatcher.aclose()


def test_a_webhook_made_here_receives_sparkposts_batches(api: Api) -> None:
    with receiving() as (receiver, base):
        hook = create(
            api,
            url=f"{base}/lettr",
            events_mode="selected",
            events=["message.delivery"],
            auth_type="basic",
            auth_username="ann",
            auth_password="s3cret",
        )
        sent = api.send()
        asyncio.run(deliver(api.services, Capture()))
        assert asyncio.run(dispatch(api)) == 1
    (received,) = receiver.requests
    assert received.path == "/lettr"
    assert received.header("authorization") == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    (entry,) = json.loads(received.body)
    event = entry["msys"]["message_event"]
    assert (event["type"], event["transmission_id"]) == ("delivery", sent.request_id)
    assert event["rcpt_to"] == "ann@example.org"
    seen = api.client.webhooks.get(hook.id)
    assert seen.last_status == "success"
    assert seen.last_successful_at == "2026-11-23T12:00:00.000Z"
    assert seen.last_failure_at is None


def test_a_failed_delivery_is_the_last_status_until_one_succeeds(api: Api) -> None:
    with receiving() as (receiver, base):
        receiver.answer(500)
        hook = create(api, url=f"{base}/lettr", events_mode="selected", events=["injection"])
        api.send()
        assert asyncio.run(dispatch(api)) == 1
        failed = api.client.webhooks.get(hook.id)
        assert (failed.last_status, failed.last_successful_at) == ("failure", None)
        assert failed.last_failure_at == "2026-11-23T12:00:00.000Z"
        api.services.clock.advance(hours=1)  # type: ignore[attr-defined]
        assert asyncio.run(dispatch(api)) == 1  # the retry, now due
    again = api.client.webhooks.get(hook.id)
    assert (again.last_status, again.last_successful_at) == ("success", "2026-11-23T13:00:00.000Z")
    assert len(receiver.requests) == 2
