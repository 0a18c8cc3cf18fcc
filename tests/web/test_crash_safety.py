"""A hit that was answered is recorded, even if the server is killed right after (SIGKILL): it
is in the process's hit journal, which the restarted server ships."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from mailbeacon.store import observations
from mailbeacon.store.db import Database
from mailbeacon.store.schema import copies
from tests.conftest import SIGNING_KEYS
from tests.support.process import click_urls, migrated_project, send_one, serve_process

LINKS = "".join(f'<a href="https://shop.example/{i}">{i}</a>' for i in range(20))


def test_no_answered_hit_is_lost_when_the_process_is_killed(tmp_path: Path) -> None:
    """kill -9 of the pid an operator knows (not its process group), under load: granian's
    worker dies with it (parent_death.py), the port is free at once, the restarted server
    ships the journal, and every answered click is in the database."""
    database = tmp_path / "mb.sqlite3"
    env = {
        "MAILBEACON_DATABASE_URL": f"sqlite:///{database}",
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_SETTLE_SECONDS": "3600",
        # fsync on every commit: a wider window between a hit and its commit, so that
        # answering before the commit would show up here as lost hits
        "MAILBEACON_SQLITE_SYNCHRONOUS": "full",
    }
    token = migrated_project(env, tmp_path, "Crash")
    with serve_process(env, tmp_path) as (base, process):
        send_one(base, token, f"<body>{LINKS}</body>")
        db = Database(env["MAILBEACON_DATABASE_URL"])
        with db.read() as conn:
            urls = click_urls(conn.execute(select(copies.c.raw)).scalar_one())
        assert len(urls) == 21  # 20 links and the honeypot
        answered = asyncio.run(_hammer_then_kill(urls, process.pid))
    port = int(urlsplit(base).port or 0)
    assert _closed_within(port, seconds=3), "something still listens after kill -9 of serve"
    with serve_process(env, tmp_path, port=port):  # the same port: its journal is replayed
        deadline = time.monotonic() + 30
        while True:
            with db.read() as conn:
                stored = observations.count(conn)
            if stored >= answered or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    db.dispose()
    assert answered > 1000  # the load really ran before the kill
    assert stored >= answered, f"{answered} clicks answered, only {stored} recorded"


async def _hammer_then_kill(urls: list[str], pid: int) -> int:
    """Click as fast as 32 keep-alive connections allow, then SIGKILL the server mid-flight;
    how many 302s arrived. (A raw client: httpx's pool tops out far below the server.)"""
    answered = 0
    stop = asyncio.Event()
    split = urlsplit(urls[0])
    host, port = split.hostname or "127.0.0.1", split.port or 80
    paths = [urlsplit(url).path for url in urls]

    async def clicker(offset: int) -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, port)
        index = offset
        try:
            while not stop.is_set():
                path = paths[index % len(paths)]
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status.startswith(b"HTTP/1.1 302"):
                    answered += 1
                index += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the server is gone
        finally:
            writer.close()

    tasks = [asyncio.create_task(clicker(i)) for i in range(32)]
    await asyncio.sleep(1.5)
    os.kill(pid, signal.SIGKILL)  # mid-flight; only the serve process, as an operator would
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return answered


def _closed_within(port: int, seconds: float) -> bool:
    """Whether connections to ``port`` are refused within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.05)
    return False
