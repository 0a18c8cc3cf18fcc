"""Memory stays bounded (issue #15): large messages, accepted and refused, leave a real `mailbeacon
serve` near its idle size once they are handled, not holding their buffers for good (it grew by
~280 MB per 20 MB message, and kept it: bound values cached with SQLite's statements and
SQLAlchemy's compiled statements, and glibc's per-thread arenas, see memory.py)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SIGNING_KEYS
from tests.support.process import migrated_project, serve_children, serve_process

MB = 1 << 20
BODY = 8 * MB  # each message's HTML
SLACK = 60 * MB  # what the process may keep beyond idle: caches, pools, a trim's granularity


def _rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def _server_pid(parent: subprocess.Popen[str]) -> int:
    """granian's worker process: the one that serves and runs the workers (the promoter runs
    in a child of its own, which large messages do not reach)."""
    found = serve_children(parent)
    assert set(found) == {"server", "promoter"}, found
    return found["server"]


def _html(seed: int) -> str:
    links = "".join(f'<p><a href="https://shop.example/{seed}/{i}">{i}</a></p>' for i in range(50))
    filler = f"<p>Paragraph {seed}: lorem ipsum dolor sit amet, consectetur adipiscing.</p>\n"
    return f"<html><body>{links}{filler * (BODY // len(filler))}</body></html>"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_large_messages_leave_the_server_near_its_idle_size(tmp_path: Path) -> None:
    env = {
        "MAILBEACON_DATABASE_URL": f"sqlite:///{tmp_path / 'mb.sqlite3'}",
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_UPSTREAM": "capture",
        "MAILBEACON_MAX_MESSAGE_BYTES": str(20 * MB),
    }
    token = migrated_project(env, tmp_path, "Big")
    with serve_process(env, tmp_path) as (base, process), httpx.Client(timeout=120) as client:
        pid = _server_pid(process)
        headers = {"x-lettermint-token": token}
        small = {"from": "a@shop.example", "to": ["b@example.org"], "subject": "s"}
        # warm up every path once with a small message, then measure idle
        assert client.post(f"{base}/v1/send", headers=headers, json=small | {"html": "<p>hi</p>"})
        time.sleep(2)
        idle = _rss(pid)
        for seed in range(3):
            sent = client.post(
                f"{base}/v1/send", headers=headers, json=small | {"html": _html(seed)}
            )
            assert sent.status_code == 202, sent.text
        refused = client.post(
            f"{base}/v1/send", headers=headers, content=b"{" + b" " * (40 * MB) + b"}"
        )
        assert refused.status_code == 413
        peak = _rss(pid)
        deadline = time.monotonic() + 30
        while (now := _rss(pid)) > idle + SLACK and time.monotonic() < deadline:
            time.sleep(0.5)
    assert now <= idle + SLACK, (
        f"idle {idle / MB:.0f} MB, {peak / MB:.0f} MB after three {BODY // MB} MB messages and a "
        f"refused 40 MB body, still {now / MB:.0f} MB 30 s later"
    )
