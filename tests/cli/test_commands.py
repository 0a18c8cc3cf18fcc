"""The mailbeacon command, run as a process the way an operator runs it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from mailbeacon.store.db import Database
from mailbeacon.store.migrate import head_revision
from tests.conftest import SIGNING_KEYS
from tests.support.process import run_cli, serve_process

HEAD = head_revision(Database("sqlite://"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "MAILBEACON_DATABASE_URL": f"sqlite:///{tmp_path / 'mb.sqlite3'}",
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
    }


def test_migrate_reports_and_checks(env: dict[str, str], tmp_path: Path) -> None:
    pending = run_cli("migrate", "--check", env=env, cwd=tmp_path, check=False)
    assert pending.returncode == 1
    assert "at empty" in pending.stdout
    applied = run_cli("migrate", env=env, cwd=tmp_path)
    assert f"empty -> {HEAD}" in applied.stderr
    assert run_cli("migrate", "--check", env=env, cwd=tmp_path).returncode == 0
    assert "already up to date" in run_cli("migrate", env=env, cwd=tmp_path).stderr


def test_serve_refuses_an_unmigrated_database_and_says_what_to_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli("serve", env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "run `mailbeacon migrate` first" in result.stderr


def test_project_create_prints_tokens_once_and_list_shows_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_cli("migrate", env=env, cwd=tmp_path)
    created = json.loads(
        run_cli("project", "create", "Shop", "--json", env=env, cwd=tmp_path).stdout
    )
    assert set(created) == {"id", "sid", "name", "team_id", "sending_token", "team_token"}
    assert created["sending_token"].startswith("lm_")
    assert created["team_token"].startswith("lm_team_")
    second = json.loads(
        run_cli(
            "project",
            "create",
            "Shop 2",
            "--json",
            "--team-token",
            created["team_token"],
            env=env,
            cwd=tmp_path,
        ).stdout
    )
    assert second["team_id"] == created["team_id"]
    assert second["team_token"] is None  # the team already has its token
    text = run_cli("project", "create", "Third", env=env, cwd=tmp_path).stdout
    assert "sending token  lm_" in text
    assert "(shown once)" in text
    listed = json.loads(run_cli("project", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [p["name"] for p in listed] == ["Shop", "Shop 2", "Third"]
    assert all("token" not in key for p in listed for key in p)


def test_project_errors_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    unmigrated = run_cli("project", "list", env=env, cwd=tmp_path, check=False)
    assert unmigrated.returncode == 2
    assert "mailbeacon migrate" in unmigrated.stderr
    run_cli("migrate", env=env, cwd=tmp_path)
    bad_team = run_cli(
        "project", "create", "X", "--team-token", "lm_team_nope", env=env, cwd=tmp_path, check=False
    )
    assert (bad_team.returncode, "no team has that team token" in bad_team.stderr) == (2, True)


def test_the_demo_project_is_made_once(env: dict[str, str], tmp_path: Path) -> None:
    run_cli("migrate", env=env, cwd=tmp_path)
    first = run_cli("project", "demo", env=env, cwd=tmp_path).stderr
    second = run_cli("project", "demo", env=env, cwd=tmp_path).stderr
    assert first == second
    assert "curl -s http://127.0.0.1:8025/v1/send -H 'x-lettermint-token: lm_" in first
    assert (tmp_path / "var" / "demo.json").stat().st_mode & 0o777 == 0o600


def test_serve_says_where_it_listens_and_serves_the_api_docs(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_cli("migrate", env=env, cwd=tmp_path)
    with serve_process(env, tmp_path) as (base, process):
        docs = httpx.get(f"{base}/docs")
        spec = httpx.get(f"{base}/openapi.json").json()
        unknown = httpx.get(f"{base}/v1/nothing-here")
        os.killpg(process.pid, signal.SIGKILL)  # granian's worker too, or stdout stays open
        output = process.stdout.read() if process.stdout else ""
    assert docs.status_code == 200
    assert {"/v1/send", "/v1/send/batch", "/v1/ping", "/api/emails"} <= set(spec["paths"])
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    first_line = output.splitlines()[0]
    assert first_line.startswith(f"mailbeacon: listening on {base}")
    assert "database sqlite:///" in first_line
    assert "upstream local capture" in first_line


def test_settings_check(env: dict[str, str], tmp_path: Path) -> None:
    assert run_cli("settings", "--check", env=env, cwd=tmp_path).returncode == 0
    bad = run_cli(
        "settings", "--check", env={**env, "MAILBEACON_PORT": "x"}, cwd=tmp_path, check=False
    )
    assert bad.returncode == 2
    assert "MAILBEACON_PORT must be a whole number" in bad.stderr
    listing = run_cli("settings", env=env, cwd=tmp_path).stdout
    assert "MAILBEACON_DATABASE_URL" in listing
    assert "MAILBEACON_IP_PRIVACY" in listing


def test_the_demo_prints_the_dashboard_and_a_sign_in_that_works(
    env: dict[str, str], tmp_path: Path
) -> None:
    from mailbeacon.service import accounts

    run_cli("migrate", env=env, cwd=tmp_path)
    printed = run_cli("project", "demo", env=env, cwd=tmp_path).stderr
    assert "Dashboard: http://127.0.0.1:8025/dashboard/" in printed
    state = json.loads((tmp_path / "var" / "demo.json").read_text())
    assert f"password       {state['dashboard_password']}" in printed
    # The state file lost, the database kept: a second demo gets a user of its own.
    (tmp_path / "var" / "demo.json").unlink()
    again = run_cli("project", "demo", env=env, cwd=tmp_path).stderr
    second = json.loads((tmp_path / "var" / "demo.json").read_text())
    assert second["dashboard_email"] == f"demo-{second['sid']}@example.com"
    assert f"sign in as     {second['dashboard_email']}" in again
    db = Database(env["MAILBEACON_DATABASE_URL"])
    try:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        signed = accounts.sign_in(db, "demo@example.com", state["dashboard_password"], "t", now)
        assert signed is not None
    finally:
        db.dispose()


def test_user_add_reads_the_password_and_refuses_clearly(
    env: dict[str, str], tmp_path: Path
) -> None:
    import subprocess

    from tests.support.process import MAILBEACON

    run_cli("migrate", env=env, cwd=tmp_path)
    team = json.loads(run_cli("project", "create", "Shop", "--json", env=env, cwd=tmp_path).stdout)
    secret = tmp_path / "password"
    secret.write_text("a long enough password\n")
    added = run_cli(
        "user",
        "add",
        "--team",
        team["team_token"],
        "--email",
        "Ann@Shop.test",
        "--password-file",
        str(secret),
        env=env,
        cwd=tmp_path,
    )
    assert "user ann@shop.test added" in added.stdout
    by_stdin = subprocess.run(
        [MAILBEACON, "user", "add", "--team", team["team_id"], "--email", "bob@shop.test"],
        input="another long password\n",
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_stdin.returncode == 0, by_stdin.stderr
    refusals = {
        "ann@shop.test": "has an account already",
        "not-an-email": "not an email address",
    }
    for email, said in refusals.items():
        again = run_cli(
            "user",
            "add",
            "--team",
            team["team_token"],
            "--email",
            email,
            "--password-file",
            str(secret),
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert (again.returncode, said in again.stderr) == (2, True), again.stderr
    secret.write_text("short\n")
    short = run_cli(
        "user",
        "add",
        "--team",
        team["team_token"],
        "--email",
        "c@shop.test",
        "--password-file",
        str(secret),
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert (short.returncode, "at least 10 characters" in short.stderr) == (2, True)
    nobody = run_cli(
        "user",
        "add",
        "--team",
        "lm_team_nope",
        "--email",
        "d@shop.test",
        "--password-file",
        str(tmp_path / "missing"),
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert (nobody.returncode, "cannot read --password-file" in nobody.stderr) == (2, True)
    unknown_team = subprocess.run(
        [MAILBEACON, "user", "add", "--team", "lm_team_nope", "--email", "d@shop.test"],
        input="a long enough password\n",
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (unknown_team.returncode, "No such team" in unknown_team.stderr) == (2, True)
