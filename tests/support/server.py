"""A real HTTP server for end-to-end tests: granian, embedded, in a thread, on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from granian.constants import Interfaces
from granian.server.embed import Server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL. An RSGI application (mailbeacon's,
    as `mailbeacon serve` runs it) is started and stopped around the server, on its loop: the
    embedded server calls ``__rsgi_init__`` from a running loop, where it cannot wait. Any other
    is served as ASGI, lifespan included."""
    port = port or free_port()
    rsgi = hasattr(app, "__rsgi__")
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.RSGI if rsgi else Interfaces.ASGI,
        websockets=False,
        log_enabled=False,
    )
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            if rsgi:
                loop.run_until_complete(app.startup())
            try:
                loop.run_until_complete(server.serve())
            finally:
                if rsgi:
                    loop.run_until_complete(app.shutdown())
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"server-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        if failure:
            raise RuntimeError("the test server did not start") from failure[0]
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start in 15 s") from None
            time.sleep(0.05)
    try:
        yield base
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(15)
