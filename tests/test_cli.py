"""The command line: `mailbeacon instrument`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbeacon.cli import main

EXAMPLE = Path(__file__).parents[1] / "src" / "mailbeacon" / "examples" / "welcome.eml"
KEYS = "1:" + "q" * 40


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", KEYS)


def test_links_of_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instrument", "--links", str(EXAMPLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [link["element"] for link in report["links"]] == ["a", "a", "a", "v:roundrect", "a"]
    assert report["links"][0]["url"] == (
        "https://northwind.example/docs/start?utm_source=welcome&utm_medium=email"
    )
    assert {s["reason"] for s in report["skipped"]} == {
        "not_web",
        "fragment",
        "opted_out",
        "unsubscribe",
    }
    assert report["clipped_by_gmail"] is False


def test_prints_the_instrumented_html(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    page = tmp_path / "page.html"
    page.write_text('<body><a href="https://a.example/">a</a></body>')
    assert main(["instrument", "--base-url", "https://t.example.org", str(page)]) == 0
    out = capsysbinary.readouterr().out.decode()
    assert out.startswith('<body><img src="https://t.example.org/o/')
    assert '<a href="https://t.example.org/c/' in out


def test_no_opens_no_clicks_leaves_the_document_alone(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    page = tmp_path / "page.html"
    page.write_text('<body><a href="https://a.example/">a</a></body>')
    assert main(["instrument", "--no-opens", "--no-clicks", str(page)]) == 0
    assert capsysbinary.readouterr().out == page.read_bytes()


def test_a_message_keeps_its_headers(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["instrument", str(EXAMPLE)]) == 0
    out = capsysbinary.readouterr().out
    original = EXAMPLE.read_bytes()
    header_end = original.index(b"\n\n")
    assert out[:header_end] == original[:header_end]
    assert b"https://t.example.com/c/" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["instrument", "/no/such/file"], "cannot read /no/such/file"),
        (["instrument", "--base-url", "ftp://x", str(EXAMPLE)], "tracking base URL"),
    ],
)
def test_bad_input_is_a_message_and_exit_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_keyring_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAILBEACON_SIGNING_KEYS", "1:short")
    assert main(["instrument", str(EXAMPLE)]) == 2
    assert "MAILBEACON_SIGNING_KEYS" in capsys.readouterr().err


def test_an_undecodable_message_names_the_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"Subject: x\nContent-Type: text/html; charset=nope\n\n<p>x</p>\n")
    assert main(["instrument", str(bad)]) == 2
    assert "MIME part 1 (text/html): unknown charset 'nope'" in capsys.readouterr().err
