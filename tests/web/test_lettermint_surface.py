"""The rest of Lettermint's SDK surface, driven through the official SDK against a real server:
project token rotation, and a clear ``not_supported`` for every SDK call that belongs to a
sending provider rather than a tracker (README.md's table)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lettermint import AuthenticationError, Lettermint, NotFoundError
from lettermint._generated.operations import OPERATIONS

from mailbeacon.web.lettermint.unsupported import OUT_OF_SCOPE
from tests.web.test_team_api import CHROME, Site, open_site, tokens

NOBODY = "00000000-0000-0000-0000-000000000000"
# Built on another branch of issue 18 (POST /v1/analytics): not this module's to probe.
ELSEWHERE = {"POST /analytics"}


@pytest.fixture
def site(running: Callable[..., Any], sqlite_url: str) -> Iterator[Site]:
    with running(sqlite_url) as (base, services):
        opened = open_site(base, services)
        with opened.lm:
            yield opened


def _mail() -> dict[str, Any]:
    return {"from": "shop@shop.example", "to": ["ann@example.org"], "subject": "S", "text": "hi"}


def test_rotate_token_gives_a_new_sending_token_and_refuses_the_old(site: Site) -> None:
    project_id = site.tenant.project.public_id
    site.services.clock.advance(minutes=3)
    rotated = site.lm.projects.rotate_token(project_id)
    assert set(rotated) == {"data", "new_token", "message"}
    assert rotated["data"]["id"] == project_id
    assert rotated["data"]["token_generated_at"] == "2026-11-23T12:03:00.000Z"
    new_token = rotated["new_token"]
    assert re.fullmatch(r"lm_[0-9A-Za-z]+", new_token)
    assert new_token != site.tenant.sending_token
    with Lettermint(sending_token=new_token, base_url=f"{site.base}/v1") as fresh:
        assert fresh.emails.send(_mail())["status"] == "pending"
    with pytest.raises(AuthenticationError):
        site.lm.emails.send(_mail())  # the client still holding the old token


def test_rotate_token_of_another_teams_project_is_not_found(site: Site) -> None:
    other = open_site(site.base, site.services, "Other")
    with other.lm, pytest.raises(NotFoundError):
        other.lm.projects.rotate_token(site.tenant.project.public_id)
    with pytest.raises(NotFoundError):
        site.lm.projects.rotate_token(NOBODY)
    site.lm.emails.send(_mail())  # the token was left alone


def test_deleting_a_project_deletes_its_mail_and_nothing_else(any_site: Site) -> None:
    site = any_site
    created = site.lm.projects.create({"name": "Old news"})
    doomed = created["data"]["id"]
    html = {**_mail(), "html": '<p><a href="https://shop.example/a">First</a></p>'}
    with Lettermint(sending_token=created["api_token"], base_url=f"{site.base}/v1") as old:
        gone = old.emails.send(html)["message_id"]
    kept = site.lm.emails.send(html)["message_id"]
    for message_id in (gone, kept):
        link = tokens(site.lm.messages.html(message_id))["c"][-1]
        httpx.get(f"{site.base}/c/{link}", headers={"user-agent": CHROME, "accept-language": "en"})
    site.promote()
    other = open_site(site.base, site.services, "Other")
    with other.lm, pytest.raises(NotFoundError):
        other.lm.projects.delete(doomed)  # another team's project: not found, not deleted
    assert site.lm.messages.retrieve(gone)["id"] == gone
    assert site.lm.projects.delete(doomed)["message"]
    with pytest.raises(NotFoundError):
        site.lm.projects.retrieve(doomed)
    with pytest.raises(NotFoundError):
        site.lm.messages.retrieve(gone)
    assert [m["id"] for m in site.lm.messages.iterate()] == [kept]
    clicked = [e["event"] for e in site.lm.messages.iterate_events(kept)]
    assert clicked == ["queued", "clicked"]
    with (
        Lettermint(sending_token=created["api_token"], base_url=f"{site.base}/v1") as old,
        pytest.raises(AuthenticationError),
    ):
        old.emails.send(_mail())


def _call(site: Site, key: str) -> httpx.Response:
    method, path = key.split(" ", 1)
    path = re.sub(r"\{[^}]+\}", NOBODY, path)
    headers = {
        "authorization": f"Bearer {site.tenant.team_token}",
        "x-lettermint-token": site.tenant.sending_token,
    }
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(method, f"{site.base}/v1{path}", headers=headers, json=body)


def test_every_sdk_call_has_an_endpoint_or_says_it_is_not_supported(site: Site) -> None:
    """No call of the SDK's operation table meets a bare "no such endpoint" or a 405."""
    for key in sorted(set(OPERATIONS) - ELSEWHERE):
        answer = _call(site, key)
        assert answer.status_code != 405, key
        if answer.status_code >= 400:  # a refusal of the fake ids and empty bodies, not a 404
            assert answer.json()["message"] != "No such endpoint.", key


def test_out_of_scope_calls_answer_not_supported_with_a_reason(site: Site) -> None:
    listed = {
        f"{method} {_sdk_path(path)}"
        for path, (methods, _) in OUT_OF_SCOPE.items()
        for method in methods
    }
    assert listed <= set(OPERATIONS)  # the table names only calls the SDK makes
    for key in sorted(listed):
        answer = _call(site, key)
        assert answer.status_code == 404, key
        error = answer.json()["error"]
        assert error["code"] == "not_supported", key
        assert error["message"] == answer.json()["message"] != "No such endpoint."
    with pytest.raises(NotFoundError) as caught:
        site.lm.domains.list()
    assert caught.value.code == "not_supported"


def test_a_mistyped_path_is_still_a_plain_not_found(site: Site) -> None:
    for path in ("/domain", "/suppressions/x/y", "/team/member", "/projects/x/rotate"):
        answer = httpx.get(
            f"{site.base}/v1{path}", headers={"authorization": f"Bearer {site.tenant.team_token}"}
        )
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found", path


def _sdk_path(path: str) -> str:
    """Our path parameters as the SDK's table spells them: {domain_id} -> {domainId}."""

    def camel(found: re.Match[str]) -> str:
        head, *rest = found.group(1).split("_")
        return "{" + head + "".join(part.title() for part in rest) + "}"

    return re.sub(r"\{(\w+)\}", camel, path)


# --- per-link clicks in the message detail ----------------------------------------------------


@pytest.fixture
def any_site(running: Callable[..., Any], database_url: str) -> Iterator[Site]:
    with running(database_url) as (base, services):
        opened = open_site(base, services)
        with opened.lm:
            yield opened


def _independent_counts(site: Site, message_id: str) -> dict[int, dict[str, int]]:
    """The per-link figures, computed here from the message's events as the API lists them."""
    every = site.lm.messages.iterate_events(message_id, {"include_machine_events": True})
    counts: dict[int, dict[str, Any]] = {}
    for event in every:
        data = event["metadata"] or {}
        if event["event"] != "clicked" or data.get("link_index") is None:
            continue
        link = counts.setdefault(data["link_index"], {"human": set(), "machine": set(), "he": 0})
        link.setdefault("me", 0)
        if data["counts_for_metrics"]:
            link["human"].add(data["recipient"])
            link["he"] += 1
        if data["bot"]["machine"]:
            link["machine"].add(data["recipient"])
            link["me"] += 1
    return {
        index: {
            "human_clicks": len(c["human"]),
            "human_clicks_events": c["he"],
            "machine_clicks": len(c["machine"]),
            "machine_clicks_events": c["me"],
        }
        for index, c in counts.items()
    }


def test_the_message_detail_reports_each_links_clicks(any_site: Site) -> None:
    site = any_site
    message_id = site.send(to=["ann@example.org", "bob@example.org"])
    person = {"user-agent": CHROME, "accept-language": "en-GB,en;q=0.9"}
    links: dict[str, list[str]] = {}
    for who in ("ann@example.org", "bob@example.org"):
        html = site.get(f"/messages/{message_id}/html", recipient=who).text
        links[who] = tokens(html)["c"]  # honeypot, first, second
    site.services.clock.advance(minutes=2)
    for who, repeat in (("ann@example.org", 2), ("bob@example.org", 1)):
        for _ in range(repeat):
            httpx.get(f"{site.base}/c/{links[who][1]}", headers=person)
            site.services.clock.advance(minutes=1)
    site.services.clock.advance(hours=1)  # a scanner, later, on its own
    httpx.head(f"{site.base}/c/{links['bob@example.org'][2]}", headers={"user-agent": "curl/8"})
    httpx.get(f"{site.base}/c/{links['ann@example.org'][0]}", headers={"user-agent": "Bot/1"})
    site.promote()

    report = site.lm.messages.retrieve(message_id)["links"]  # type: ignore[typeddict-item]
    assert [(r["link_index"], r["url"], r["anchor_text"]) for r in report] == [
        (0, "https://shop.example/a", "First"),
        (1, "https://shop.example/b", "Second"),
    ]
    figures = {
        r["link_index"]: {k: v for k, v in r.items() if k.endswith(("_clicks", "_events"))}
        for r in report
    }
    assert figures[0] == {
        "human_clicks": 2,
        "human_clicks_events": 3,
        "machine_clicks": 0,
        "machine_clicks_events": 0,
    }
    assert figures[1]["machine_clicks_events"] == 1
    assert figures[1]["human_clicks"] == 0
    independent = _independent_counts(site, message_id)
    assert {i: f for i, f in figures.items() if i in independent} == independent


def test_a_link_nobody_clicked_is_reported_with_zeros(site: Site) -> None:
    message_id = site.send()
    report = site.lm.messages.retrieve(message_id)["links"]  # type: ignore[typeddict-item]
    assert [r["human_clicks"] + r["machine_clicks_events"] for r in report] == [0, 0]
    plain = site.send(html=None, text="no links")
    assert site.lm.messages.retrieve(plain)["links"] == []  # type: ignore[typeddict-item]
