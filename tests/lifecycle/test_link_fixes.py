"""Fixing a link after sending, end to end on both databases: the Team API changes it, every
running process redirects to the new URL within seconds, the change is kept in the message's
audit trail, and clicks recorded before keep their original destination."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.clock import SystemClock
from mailbeacon.store.db import Database
from mailbeacon.store.schema import events, messages
from tests.conftest import SIGNING_KEYS
from tests.lifecycle.mail import click, send, tokens_of
from tests.support import databases
from tests.support.process import serve_processes
from tests.support.tenants import Tenant, new_tenant

NEW = "https://shop.example/offer-fixed"


def _location(base: str, token: str) -> str:
    answer = click(base, token)
    assert answer.status_code == 302
    return answer.headers["location"]


@dataclass
class Pair:
    """Two `mailbeacon serve` processes on one database, as behind a load balancer."""

    one: str
    two: str
    db: Database
    tenant: Tenant

    @property
    def team(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.team_token}"}

    def token(self, message: str, link_index: int) -> str:
        """The click token of a link of the message's copy (after the honeypot's)."""
        services: Any = type("Services", (), {"db": self.db})  # tokens_of reads .db only
        return tokens_of(services, message)["c"][1 + link_index]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    directory = tmp_path_factory.mktemp("pair")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = databases.fresh_sqlite(directory)
        else:
            url = stack.enter_context(contextlib.contextmanager(databases.fresh_postgres)())
        db = Database(url)
        stack.callback(db.dispose)
        env = {
            "MAILBEACON_DATABASE_URL": url,
            "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
            "MAILBEACON_PUBLIC_URL": "http://t.example.test",
            "MAILBEACON_SETTLE_SECONDS": "0",
            "MAILBEACON_JOURNAL_DIR": str(directory / "hits"),
        }
        (one, _), (two, _) = stack.enter_context(serve_processes(env, directory, 2))
        yield Pair(one, two, db, new_tenant(db, SystemClock()))


def _clicks(db: Database, message: str) -> list[str]:
    """The destinations the message's click events recorded, in time order."""
    with db.read() as conn:
        return list(
            conn.execute(
                select(events.c.url)
                .join(messages, messages.c.id == events.c.message_id)
                .where(messages.c.public_id == message, events.c.type == "message.clicked")
                .order_by(events.c.at)
            ).scalars()
        )


def test_a_fixed_link_redirects_from_every_running_process_within_seconds(pair: Pair) -> None:
    one, two = pair.one, pair.two
    message = send(one, pair.tenant.sending_token, "ann@example.org")
    token = pair.token(message, 0)
    original = "https://shop.example/offer?email=ann@example.org"
    assert _location(one, token) == original  # both processes hold it now
    assert _location(two, token) == original

    answer = httpx.patch(
        f"{one}/v1/messages/{message}/links/0", json={"url": NEW}, headers=pair.team
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["old_url"] == original

    started = time.monotonic()
    seen = {one: "", two: ""}
    clicks = 2
    while time.monotonic() - started < 5 and set(seen.values()) != {NEW}:
        seen = {base: _location(base, token) for base in seen}
        clicks += len(seen)
        time.sleep(0.05)
    assert seen == {one: NEW, two: NEW}, f"after {time.monotonic() - started:.1f} s"

    shown = httpx.get(f"{two}/v1/messages/{message}", headers=pair.team).json()
    assert shown["links"][0]["url"] == NEW
    [change] = shown["link_changes"]
    assert change["link_index"] == 0
    assert change["old_url"] == original
    assert change["new_url"] == NEW
    assert change["changed_by"] == f"team:{pair.tenant.team.public_id}"
    assert change["changed_at"].endswith("Z")

    # the clicks before the fix keep their destination, those after have the new one
    deadline = time.monotonic() + 15
    recorded = _clicks(pair.db, message)
    while time.monotonic() < deadline and len(recorded) < clicks:  # every click judged
        time.sleep(0.2)
        recorded = _clicks(pair.db, message)
    assert len(recorded) == clicks
    assert recorded[:2] == [original, original]
    assert recorded[-1] == NEW


def test_every_link_to_a_url_within_a_tag_is_fixed_at_once(pair: Pair) -> None:
    base, token = pair.one, pair.tenant.sending_token
    tagged = [send(base, token, "ann@example.org", tag="spring") for _ in range(3)]
    other = send(base, token, "ann@example.org", tag="autumn")
    shoes, boots = "https://shop.example/shoes", "https://shop.example/boots"
    before = httpx.get(f"{pair.two}/v1/messages/{tagged[0]}", headers=pair.team).json()
    assert before["links"][1]["url"] == shoes

    answer = httpx.patch(
        f"{base}/v1/links",
        json={"url": shoes, "new_url": boots, "tag": "spring", "from_date": "2020-01-01"},
        headers=pair.team,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"links_changed": 3, "messages_changed": 3}
    for message in tagged:
        deadline = time.monotonic() + 5
        while _location(pair.two, pair.token(message, 1)) != boots:
            assert time.monotonic() < deadline, "the other process kept the old destination"
            time.sleep(0.05)
        shown = httpx.get(f"{base}/v1/messages/{message}", headers=pair.team).json()
        assert [c["link_index"] for c in shown["link_changes"]] == [1]
    assert _location(pair.two, pair.token(other, 1)) == shoes
    untouched = httpx.get(f"{base}/v1/messages/{other}", headers=pair.team).json()
    assert untouched["link_changes"] == []


BAD_FIXES = [
    ("/v1/messages/{m}/links/0", {"url": "javascript:alert(1)"}, 422, "url"),
    ("/v1/messages/{m}/links/0", {"url": "/relative"}, 422, "url"),
    ("/v1/messages/{m}/links/9", {"url": NEW}, 404, None),
    ("/v1/messages/nope/links/0", {"url": NEW}, 404, None),
    ("/v1/links", {"url": "https://a.example", "new_url": "ftp://x"}, 422, "new_url"),
    ("/v1/links", {"url": "https://a.example", "new_url": NEW, "project_id": "x"}, 404, None),
    ("/v1/links", {"url": "https://a.example", "new_url": NEW, "to_date": "soon"}, 422, "to_date"),
]


def test_bad_fixes_are_refused_with_the_one_error_shape(pair: Pair) -> None:
    message = send(pair.one, pair.tenant.sending_token, "ann@example.org")
    other_team = new_tenant(pair.db, SystemClock(), "Other")
    for path, body, status, field in BAD_FIXES:
        answer = httpx.patch(pair.one + path.format(m=message), json=body, headers=pair.team)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["message"]
        if field is not None:
            assert field in answer.json()["errors"], answer.json()
    stranger = httpx.patch(
        f"{pair.one}/v1/messages/{message}/links/0",
        json={"url": NEW},
        headers={"authorization": f"Bearer {other_team.team_token}"},
    )
    assert stranger.status_code == 404  # another team's message: as if it did not exist
    assert (
        httpx.get(f"{pair.one}/v1/messages/{message}", headers=pair.team).json()["link_changes"]
        == []
    )
