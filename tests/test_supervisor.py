"""supervisor.py: a child of serve started again when it dies, left alone when it exits 0,
stopped (SIGTERM, then SIGKILL) with serve, at the priority it was given."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from mailbeacon import supervisor
from mailbeacon.supervisor import ChildProcess


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "FIRST_PAUSE", 0.05)
    monkeypatch.setattr(supervisor, "STOP_SECONDS", 1.0)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_child_that_dies_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    code = f"open({str(starts)!r}, 'a').write('x'); import os; os._exit(3)"
    child = ChildProcess("flaky", _python(code), os.environ)
    child.start()
    try:
        _wait(lambda: starts.exists() and len(starts.read_text()) >= 3)
    finally:
        child.stop()
    assert child.restarts >= 2
    count = len(starts.read_text())
    time.sleep(0.3)
    assert len(starts.read_text()) == count  # stopped: no more starts


def test_a_child_that_exits_0_was_asked_to_stop_and_stays_stopped(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    child = ChildProcess("done", _python(f"open({str(starts)!r}, 'a').write('x')"), os.environ)
    child.start()
    _wait(lambda: starts.exists())
    time.sleep(0.5)
    child.stop()
    assert starts.read_text() == "x"
    assert child.restarts == 0


def test_stop_ends_a_child_with_sigterm(tmp_path: Path) -> None:
    child = ChildProcess("sleeper", _python("import time; time.sleep(60)"), os.environ)
    child.start()
    began = time.monotonic()
    child.stop()
    assert time.monotonic() - began < 1.0  # SIGTERM, not the deadline's SIGKILL
    assert child.pid is not None
    assert not Path(f"/proc/{child.pid}").exists()


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(ready)!r}, 'w').close(); time.sleep(60)"
    )
    child = ChildProcess("stubborn", _python(code), os.environ)
    child.start()
    _wait(ready.exists)
    began = time.monotonic()
    child.stop()
    assert 0.9 < time.monotonic() - began < 5
    assert child.pid is not None
    assert not Path(f"/proc/{child.pid}").exists()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no nice values here")
def test_the_child_runs_at_the_priority_it_was_given() -> None:
    child = ChildProcess("nice", _python("import time; time.sleep(60)"), os.environ, nice=7)
    child.start()
    try:
        assert child.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(os.nice(0) + 7, 19)
    finally:
        child.stop()
