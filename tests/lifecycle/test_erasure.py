"""Erasure, end to end on both databases: mail sent, opened and clicked through a running
server, webhooks queued; then one recipient erased through the Team API, and the address is
searched for in every column of every table and in the server's hit journal."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.cli import main
from mailbeacon.service import erasure, suppressions
from mailbeacon.service.suppressions import SuppressionRequest
from mailbeacon.store.db import Database
from mailbeacon.store.personal_data import REGISTRY, Locate, PersonalData
from mailbeacon.store.schema import dashboard_users, erasures, metadata
from tests.conftest import SIGNING_KEYS
from tests.lifecycle.mail import capture, open_and_click, send, subscribe
from tests.support.tenants import new_tenant
from tests.support.workers import promote

ANN = "Ann.Smith@Example.org"  # as the sender wrote it; found in any letter case


def _traces(value: Any, needle: str) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", "replace")
    elif isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:
        text = str(value)
    text = text.lower()
    return needle in text or needle.replace("@", "%40") in text


def database_traces(db: Database, needle: str) -> list[str]:
    """Every table.column of the central database whose value mentions ``needle``."""
    found = []
    with db.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None and _traces(value, needle):
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def journal_traces(path: Path, needle: str) -> list[str]:
    """Every table.column of a hit journal whose value mentions ``needle``."""
    found = []
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f"SELECT * FROM {table}")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                found += [
                    f"{table}.{n}"
                    for n, v in zip(names, row, strict=True)
                    if v and _traces(v, needle)
                ]
    return sorted(set(found))


def test_an_erased_address_appears_nowhere(
    running: Callable[..., Any], database_url: str, tmp_path: Path
) -> None:
    journals = tmp_path / "journal"
    with running(
        database_url, webhook_allow_private_networks="true", journal_dir=str(journals)
    ) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        subscribe(base, tenant.team_token)
        alone = send(base, tenant.sending_token, ANN)
        shared = send(base, tenant.sending_token, ANN, cc=["Bob <bob@example.org>"])
        send(base, tenant.sending_token, "bob@example.org")
        capture(services)
        open_and_click(base, services, alone)
        open_and_click(base, services, shared)
        services.clock.advance(seconds=6)
        promote(services)
        [journal] = journals.glob("*.sqlite3")
        needle = ANN.lower()
        assert "observations.ip" not in database_traces(services.db, needle)  # it is an IP
        assert len(database_traces(services.db, needle)) > 10  # it is everywhere before
        assert journal_traces(journal, needle) == ["links.urls"]

        answer = httpx.post(
            f"{base}/v1/erasures",
            json={"recipient": ANN.upper()},
            headers={"authorization": f"Bearer {tenant.team_token}"},
        )

        assert answer.status_code == 200, answer.text
        report = answer.json()["data"]
        erased = report["erased"]
        assert erased["copies"] >= 3  # ann's two copies, and bob's copy naming her in its To:
        assert erased["messages"] == 2
        assert erased["observations"] == 4  # two opens, two clicks
        assert {"events", "links", "webhook_deliveries", "analytics_daily"} <= set(erased)
        assert database_traces(services.db, needle) == []
        deadline = time.monotonic() + 5  # the server follows the feed of changed links
        while journal_traces(journal, needle) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert journal_traces(journal, needle) == []
        bob = database_traces(services.db, "bob@example.org")
        assert {"copies.recipient", "copies.raw", "messages.cc"} <= set(bob)  # bob's stay
        with services.db.read() as conn:
            [logged] = conn.execute(select(erasures)).all()
        assert logged.subject_hash == report["subject_hash"]
        assert len(logged.subject_hash) == 64
        assert logged.report == erased
        # the recipient's personalised link now goes where the erased link points
        team = {"authorization": f"Bearer {tenant.team_token}"}
        shown = httpx.get(f"{base}/v1/messages/{alone}", headers=team).json()
        assert shown["links"][0]["url"] == "https://shop.example/offer?email=[erased]"
        gone = httpx.get(f"{base}/v1/messages/{alone}/html", headers=team)
        assert gone.status_code == 410

        again = httpx.post(f"{base}/v1/erasures", json={"recipient": ANN}, headers=team)
        assert again.json()["data"]["erased"] == {}
        assert again.json()["data"]["subject_hash"] == report["subject_hash"]
        log = httpx.get(f"{base}/v1/erasures", params={"recipient": ANN}, headers=team).json()
        assert [e["id"] for e in log["data"]] == [again.json()["data"]["id"], report["id"]]
        assert log["data"][1]["erased"] == erased
        assert log["data"][1]["requested_by"] == f"team:{tenant.team.public_id}"
        assert needle not in json.dumps(log).lower()
        others = httpx.get(
            f"{base}/v1/erasures", params={"recipient": "x@example.org"}, headers=team
        )
        assert others.json()["data"] == []
        bad = httpx.post(f"{base}/v1/erasures", json={"recipient": "not an address"}, headers=team)
        assert bad.status_code == 422
        assert "recipient" in bad.json()["errors"]


def test_the_command_line_erases_in_one_team_or_all(
    running: Callable[..., Any],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    carl = "carl@example.org"
    monkeypatch.setenv("MAILBEACON_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", SIGNING_KEYS)
    with running(sqlite_url) as (base, services):
        acme = new_tenant(services.db, services.clock, "Acme")
        other = new_tenant(services.db, services.clock, "Other")
        send(base, acme.sending_token, carl)
        send(base, other.sending_token, carl)

        assert main(["erase", "--recipient", carl, "--team", "Acme"]) == 0

        assert json.loads(capsys.readouterr().out)["erased"]["copies"] == 1
        assert database_traces(services.db, carl)  # Other's message still names carl
        with services.db.read() as conn:
            assert conn.execute(select(erasures.c.team_id)).scalar_one() == acme.team.id
        assert main(["erase", "--recipient", carl]) == 0  # every team
        assert json.loads(capsys.readouterr().out)["erased"]["copies"] == 1
        assert database_traces(services.db, carl) == []
        assert other.team.id != acme.team.id

    assert main(["erase", "--recipient", carl, "--team", "Nobody"]) == 2
    assert "no team 'Nobody'" in capsys.readouterr().err
    assert main(["erase", "--recipient", "carl"]) == 2
    assert "email address" in capsys.readouterr().err


def test_a_table_added_to_the_registry_is_erased_on_request(
    make_services: Callable[..., Any], sqlite_url: str
) -> None:
    """The suppressions' way in: one registry line, erased only when the request says so
    (the registry's queries are the ones the test above runs on both databases)."""
    services = make_services(sqlite_url)
    tenant = new_tenant(services.db, services.clock)
    kept_on_request = PersonalData(
        dashboard_users,
        Locate.ADDRESS,
        "email",
        delete=True,
        on_request=True,
        project=None,
        team="team_id",
    )
    with services.db.write() as conn:
        conn.execute(
            dashboard_users.insert().values(
                public_id="u1",
                team_id=tenant.team.id,
                email="dan@example.org",
                password_hash="x",
                created_at=services.clock.now(),
                updated_at=services.clock.now(),
            )
        )
    registry = (*REGISTRY, kept_on_request)

    def erase(suppressions: bool) -> dict[str, int]:
        return erasure.erase(
            services.db,
            "Dan@example.org",
            services.clock.now(),
            team=tenant.team,
            requested_by="test",
            suppressions=suppressions,
            registry=registry,
        ).erased

    assert erase(False) == {}
    assert erase(True) == {"dashboard_users": 1}
    assert database_traces(services.db, "dan@example.org") == []


def test_suppressions_and_tracking_opt_outs_are_erased_only_on_request(
    make_services: Callable[..., Any], database_url: str
) -> None:
    """The person's own wishes (no mail, no tracking) outlive an erasure unless it asks."""
    services = make_services(database_url)
    tenant = new_tenant(services.db, services.clock)
    now = services.clock.now()
    request = SuppressionRequest(["Eve@Example.org"], "manual", "team")
    suppressions.add(services.db, tenant.team, request, now, field="emails")
    suppressions.add_opt_outs(services.db, tenant.team, ["eve@example.org"], now)

    def erase(asked: bool) -> dict[str, int]:
        return erasure.erase(
            services.db,
            "eve@example.org",
            services.clock.now(),
            team=tenant.team,
            requested_by="test",
            suppressions=asked,
        ).erased

    assert erase(False) == {}
    assert database_traces(services.db, "eve@example.org") != []
    assert erase(True) == {"suppressions": 1, "tracking_opt_outs": 1}
    assert database_traces(services.db, "eve@example.org") == []
