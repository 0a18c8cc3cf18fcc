"""``mailbeacon domain add|verify|list``: once as processes, the way an operator runs them,
and the rest through the same ``main`` in this process (a process costs ~0.8 s of imports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbeacon.cli import main
from tests.conftest import SIGNING_KEYS
from tests.support.dns_server import DnsZone
from tests.support.process import run_cli

BASE = "trk.example.test"


def target(sid: str) -> str:
    """The host a domain of project ``sid`` points at: its own default host."""
    return f"p{sid}.{BASE}"


@pytest.fixture
def env(tmp_path: Path, dns_zone: DnsZone, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "MAILBEACON_DATABASE_URL": f"sqlite:///{tmp_path / 'mb.sqlite3'}",
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_TRACKING_BASE_DOMAIN": BASE,
        "MAILBEACON_DNS_RESOLVERS": dns_zone.resolvers,
        "MAILBEACON_DNS_TIMEOUT_SECONDS": "2",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert main(["migrate"]) == 0
    return values


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def project(capsys: pytest.CaptureFixture[str], name: str) -> dict[str, str]:
    capsys.readouterr()
    status, out, _ = run(capsys, "project", "create", name, "--json")
    assert status == 0
    created: dict[str, str] = json.loads(out)
    return created


def test_the_commands_as_processes(
    env: dict[str, str], dns_zone: DnsZone, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = project(capsys, "Shop")
    added = run_cli("domain", "add", "--project", shop["sid"], "Track.Shop.Test", env=env)
    assert "track.shop.test added to project Shop" in added.stdout
    assert f"track.shop.test.  CNAME  {target(shop['sid'])}." in added.stdout
    pending = run_cli("domain", "verify", "track.shop.test", env=env, check=False)
    assert pending.returncode == 1
    assert "track.shop.test  pending_cname  (no CNAME record found)" in pending.stdout
    dns_zone.cname("track.shop.test", target(shop["sid"]))
    assert run_cli("domain", "verify", "track.shop.test", env=env).returncode == 0


def test_add_verify_and_list(
    env: dict[str, str], dns_zone: DnsZone, capsys: pytest.CaptureFixture[str]
) -> None:
    shop, other = project(capsys, "Shop"), project(capsys, "Other")
    assert run(capsys, "domain", "add", "--project", shop["id"], "track.shop.test")[0] == 0
    dns_zone.cname("track.shop.test", target(shop["sid"]))
    status, out, _ = run(capsys, "domain", "verify", "TRACK.shop.test.", "--json")
    record = json.loads(out)
    assert status == 0
    assert (record["status"], record["status_reason"]) == ("active", None)
    assert record["dns_records"] == [
        {"type": "CNAME", "name": "track.shop.test", "value": target(shop["sid"])}
    ]
    assert run(capsys, "domain", "verify", record["id"])[1].strip() == "track.shop.test  active"
    assert run(capsys, "domain", "add", "--project", other["sid"], "t.other.test")[0] == 0
    listed = json.loads(run(capsys, "domain", "list", "--json")[1])
    assert [(d["domain"], d["project_sid"], d["status"]) for d in listed] == [
        ("track.shop.test", shop["sid"], "active"),
        ("t.other.test", other["sid"], "pending_cname"),
    ]
    mine = run(capsys, "domain", "list", "--project", other["sid"])[1]
    assert "t.other.test  pending_cname" in mine
    assert "track.shop.test" not in mine


def test_bad_input_is_a_message_and_exit_status_2(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    shop = project(capsys, "Shop")
    assert run(capsys, "domain", "add", "--project", shop["id"], "track.shop.test")[0] == 0
    for args, says in (
        (["add", "--project", shop["id"], "track.shop.test"], "of this project already"),
        (["add", "--project", shop["id"], "shop.test"], "is not a subdomain"),
        (["add", "--project", shop["id"], "*.shop.test"], "Wildcards are not allowed"),
        (["add", "--project", shop["id"], "p1234abcd.trk.example.test"], "own tracking"),
        (["add", "--project", "nope", "t2.shop.test"], "no project has the id or short id"),
        (["verify", "unknown.shop.test"], "no tracking domain 'unknown.shop.test'"),
        (["verify", "not a name"], "not a valid host name"),
        (["list", "--project", "nope"], "no project has the id or short id"),
    ):
        status, _, err = run(capsys, "domain", *args)
        assert status == 2, (args, err)
        assert err.startswith("mailbeacon: "), args
        assert says in err, (args, err)
    with pytest.raises(SystemExit) as usage:
        main(["domain", "add", "track.shop.test"])  # no --project: argparse's usage error
    assert usage.value.code == 2
    assert "--project" in capsys.readouterr().err
