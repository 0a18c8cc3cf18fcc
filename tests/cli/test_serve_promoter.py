"""`mailbeacon serve` judges hits in a child process of its own at a lower priority
(supervisor.py): it promotes, it comes back when it is killed, and it never outlives serve."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from mailbeacon.store.db import Database
from mailbeacon.store.schema import copies, events
from tests.conftest import SIGNING_KEYS
from tests.support.process import (
    click_urls,
    migrated_project,
    send_one,
    serve_children,
    serve_process,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _nice(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # the 19th field of stat(5); two precede the split


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has died, its parent not yet told


def _until(what: Callable[[], object], seconds: float, message: str) -> object:
    deadline = time.monotonic() + seconds
    while not (found := what()):
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)
    return found


def test_serve_promotes_in_a_supervised_child_at_a_lower_priority(
    tmp_path: Path, database_url: str
) -> None:
    """On SQLite and on PostgreSQL."""
    env = {
        "MAILBEACON_DATABASE_URL": database_url,
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_UPSTREAM": "capture",
        "MAILBEACON_SETTLE_SECONDS": "0",
    }
    token = migrated_project(env, tmp_path, "Child")
    db = Database(env["MAILBEACON_DATABASE_URL"])
    try:
        with serve_process(env, tmp_path) as (base, serve):
            found = serve_children(serve)
            assert set(found) == {"server", "promoter"}, found
            assert _nice(found["server"]) == _nice(serve.pid)
            assert _nice(found["promoter"]) == min(_nice(serve.pid) + 10, 19)

            send_one(base, token, '<body><a href="https://shop.example/1">one</a></body>')

            def raw() -> bytes | None:
                with db.read() as conn:
                    return conn.execute(select(copies.c.raw)).scalar()

            copy = _until(raw, 30, "the copy was not captured")
            assert isinstance(copy, bytes)
            url = click_urls(copy)[0]

            def clicked() -> int:
                with db.read() as conn:
                    query = select(func.count()).where(events.c.type == "message.clicked")
                    return int(conn.execute(query).scalar_one())

            assert httpx.get(url).status_code == 302
            _until(lambda: clicked() == 1, 30, "the promoter child did not promote the click")

            # The child is the only promoter: paused, nothing is promoted (granian's worker
            # runs none of its own); resumed, it catches up.
            first = found["promoter"]
            os.kill(first, signal.SIGSTOP)
            try:
                assert httpx.get(url).status_code == 302
                time.sleep(3)  # six of a promoter's idle pauses
                assert clicked() == 1
            finally:
                os.kill(first, signal.SIGCONT)
            _until(lambda: clicked() == 2, 30, "the resumed promoter did not promote")

            # Killed (the OOM killer, a crash): serve starts it again, and it promotes.
            os.kill(first, signal.SIGKILL)
            _until(
                lambda: serve_children(serve).get("promoter", first) != first,
                15,
                "serve did not start the promoter again",
            )
            assert httpx.get(url).status_code == 302
            _until(lambda: clicked() == 3, 30, "the restarted promoter did not promote")

            # serve killed outright: its children go with it (parent_death.py).
            children = serve_children(serve)
            os.kill(serve.pid, signal.SIGKILL)
            serve.wait(10)
            for role, pid in children.items():
                _until(lambda pid=pid: not _alive(pid), 10, f"the {role} outlived serve")
    finally:
        db.dispose()
