"""`mailbeacon serve` as a real process, for tests of the command and of crash safety."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.server import free_port

MAILBEACON = str(Path(sys.executable).with_name("mailbeacon"))


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [MAILBEACON, *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mailbeacon {' '.join(args)} failed: {result.stderr}")
    return result


def migrated_project(env: dict[str, str], cwd: Path, name: str) -> str:
    """Migrate the database of ``env`` and create a project: its sending token."""
    run_cli("migrate", env=env, cwd=cwd)
    made = run_cli("project", "create", name, "--json", env=env, cwd=cwd).stdout
    return str(json.loads(made)["sending_token"])


def send_one(base: str, token: str, html: str) -> None:
    """POST /v1/send of ``html`` to one recipient, with the project's sending token."""
    sent = httpx.post(
        f"{base}/v1/send",
        headers={"x-lettermint-token": token},
        json={"from": "a@shop.example", "to": ["b@example.org"], "subject": "s", "html": html},
    )
    assert sent.status_code == 202, sent.text


def click_urls(raw: bytes) -> list[str]:
    """The /c/ tracking URLs of a captured copy (quoted-printable soft breaks undone)."""
    text = raw.decode().replace("=\r\n", "")
    return re.findall(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{32}", text)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")


def serve_children(serve: subprocess.Popen[str]) -> dict[str, int]:
    """`mailbeacon serve`'s children by role: "server" (granian's worker: HTTP, the workers)
    and "promoter" (supervisor.py); whatever else is there is named by its command line."""
    found: dict[str, int] = {}
    for child in children(serve.pid):
        command = command_line(child)
        if command[-3:] == ["worker", "--only", "promoter"]:
            found["promoter"] = child
        elif "serve" in command:
            found["server"] = child
        else:
            found[" ".join(command)] = child
    return found


@contextlib.contextmanager
def serve_processes(
    env: dict[str, str], cwd: Path, count: int
) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    """``count`` `mailbeacon serve` processes on free ports, started at once (their start-ups
    overlap); yield [(base URL, process)] once all answer."""
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(serve_process(env, cwd, wait=False)) for _ in range(count)]
        for base, process in started:
            _wait_until_serving(base, process)
        yield started


def _wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"mailbeacon serve exited: {output}")
        try:
            httpx.get(f"{base}/v1/ping", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise AssertionError("mailbeacon serve did not answer in 30 s") from None
            time.sleep(0.1)


@contextlib.contextmanager
def serve_process(
    env: dict[str, str], cwd: Path, port: int | None = None, *, wait: bool = True
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `mailbeacon serve` on ``port`` (a free one by default); yield (base URL,
    process) once it answers (at once without ``wait``)."""
    port = port or free_port()
    process = subprocess.Popen(
        [MAILBEACON, "serve", "--port", str(port)],
        # No SMTP relay unless the test asks: its default port may be taken by a parallel run.
        env={**os.environ, "MAILBEACON_SMTP_PORT": "0", **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killed whole below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if wait:
            _wait_until_serving(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        if process.stdout:
            process.stdout.close()
