"""`mailbeacon classify` explains verdicts; `mailbeacon data` manages the network lists."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mailbeacon.cli import main
from mailbeacon.store import migrate
from mailbeacon.store import networks as network_store
from mailbeacon.store.db import Database
from tests.conftest import SIGNING_KEYS

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def run_classify(
    lines: list[object],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> list[dict[str, object]]:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))
    assert main(["classify", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_verdicts_come_out_in_order_with_their_reasons(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    burst = [
        {
            "id": f"b{i}",
            "kind": "click",
            "message": "m1",
            "recipient": "r@x",
            "link_index": i,
            "at": f"2026-11-23T09:00:45.{i}00Z",
            "sent_at": "2026-11-23T09:00:00Z",
            "user_agent": CHROME,
            "ip": "40.107.3.0",
        }
        for i in range(3)
    ]
    person = {
        "id": "p",
        "kind": "click",
        "message": "m2",
        "recipient": "r@x",
        "link_index": 0,
        "at": "2026-11-23T09:20:00Z",
        "sent_at": "2026-11-23T09:00:00Z",
        "user_agent": CHROME,
        "headers": {"Accept-Language": "en"},
    }
    mpp = {"id": "o", "kind": "open", "user_agent": "Mozilla/5.0"}
    out = run_classify([burst[0], person, burst[1], mpp, burst[2]], monkeypatch, capsys)
    assert [v["id"] for v in out] == ["b0", "p", "b1", "o", "b2"]
    assert {v["classification"] for v in out if str(v["id"]).startswith("b")} == {
        "security_scanner"
    }
    assert out[0]["family"] == "microsoft_safe_links"
    assert "timing" in out[0]["reason_codes"]  # type: ignore[operator]
    assert out[1] == {
        "id": "p",
        "classification": "genuine",
        "probability": 1,
        "proxy_type": None,
        "family": None,
        "reason_codes": [],
        "details": [],
        "machine": False,
        "counts_for_metrics": True,
    }
    assert (out[3]["proxy_type"], out[3]["counts_for_metrics"]) == ("apple_mpp", False)


def test_only_hits_of_the_same_message_and_recipient_are_judged_together(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hits = [
        {
            "id": i,
            "kind": "click",
            "message": "m",
            "recipient": f"r{i}",
            "link_index": i,
            "at": "2026-11-23T09:05:00Z",
            "user_agent": CHROME,
            "headers": {"accept-language": "en"},
        }
        for i in range(3)
    ]
    assert {v["classification"] for v in run_classify(hits, monkeypatch, capsys)} == {"genuine"}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "line 1: not JSON"),
        ('{"kind": "look"}', "kind must be open, click or honeypot"),
        ('{"kind": "open", "at": "yesterday"}', "at is not an ISO 8601 time"),
        ('{"kind": "click", "link_index": "2"}', "link_index must be a whole number"),
    ],
)
def test_bad_lines_are_named(
    line: str, problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(line + "\n"))
    assert main(["classify"]) == 2
    assert problem in capsys.readouterr().err


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'mb.sqlite3'}"
    monkeypatch.setenv("MAILBEACON_DATABASE_URL", url)
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", SIGNING_KEYS)
    db = Database(url)
    migrate.upgrade(db)
    return db


def test_an_imported_list_replaces_that_providers_shipped_ranges(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    egress = tmp_path / "egress-ip-ranges.csv"
    egress.write_text("172.224.226.0/27,GB,GB-EN,London,\n2a02:26f7:b3c0:4000::/64,GB,GB-EN,,\n")
    assert (
        main(
            [
                "data",
                "import",
                str(egress),
                "--format",
                "apple",
                "--source",
                "Apple egress-ip-ranges.csv, 2026-11-20",
            ]
        )
        == 0
    )
    assert "imported 2 ranges for apple" in capsys.readouterr().out
    cidrs = tmp_path / "mimecast.txt"
    cidrs.write_text("# Mimecast EU\n195.130.217.0/24\n\n91.220.42.0/24\n")
    assert (
        main(
            [
                "data",
                "import",
                str(cidrs),
                "--format",
                "cidr",
                "--provider",
                "mimecast",
                "--role",
                "scanner",
                "--confidence",
                "certain",
            ]
        )
        == 0
    )
    with database.read() as conn:
        table = network_store.load_table(conn)
    assert table.lookup("172.224.226.5").provider == "apple"  # type: ignore[union-attr]
    assert table.lookup("17.1.1.1") is None  # Apple's shipped range was replaced
    assert table.lookup("195.130.217.9").confidence == "certain"  # type: ignore[union-attr]
    assert table.lookup("40.107.1.1").provider == "microsoft_eop"  # type: ignore[union-attr]
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "imported: apple (apple_relay): 2 ranges, Apple egress-ip-ranges.csv" in listing


@pytest.mark.parametrize(
    ("content", "args", "problem"),
    [
        ("not-a-network,x,scanner,certain\n", [], "does not appear to be an IPv4 or IPv6"),
        ("10.0.0.0/8\n", ["--format", "cidr"], "needs --provider and --role"),
        ("", [], "no ranges found"),
    ],
)
def test_bad_imports_are_refused(
    database: Database,
    tmp_path: Path,
    content: str,
    args: list[str],
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "list.txt"
    source.write_text(content)
    assert main(["data", "import", str(source), *args]) == 2
    assert problem in capsys.readouterr().err
