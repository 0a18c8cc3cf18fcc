"""A real webhook receiver for tests: an ASGI app served by granian in a thread, on loopback.

It records every POST (path, headers as sent, raw body, which connection carried it) and
answers from a script (``answer(500, 410)``: a 500, then a 410, then 200s; per path with
``path=``), so a
test sees exactly what went over the wire. ``hold_until(n)`` makes requests wait (10 s at
most) until ``n`` are open at once, so a concurrency bound can be seen reached without
sleeping; ``wait_for(n)`` blocks until ``n`` requests arrived (for tests of a running server
or process, whose workers keep their own time).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.server import serve_in_thread

__all__ = ["Answer", "Received", "Receiver", "receiving"]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering: a slow receiver


@dataclass(frozen=True)
class Received:
    path: str
    headers: list[tuple[str, str]]  # as sent, in order, names lowercased by the server
    body: bytes
    client: tuple[str, int]  # the connection's address and port

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


@dataclass
class Receiver:
    requests: list[Received] = field(default_factory=list)
    peak: int = 0
    _open: int = 0
    _scripts: dict[str | None, deque[Answer]] = field(default_factory=dict)
    _hold: int = 0
    _reached: threading.Event = field(default_factory=threading.Event)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, *answers: Answer | int, path: str | None = None) -> None:
        """The next requests (to ``path``, or to any path) get these answers, in order (an
        int is a status); then 200."""
        script = self._scripts.setdefault(path, deque())
        script.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def hold_until(self, requests: int) -> None:
        self._hold = requests
        self._reached.clear()

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)

    @property
    def connections(self) -> int:
        return len({r.client for r in self.requests})

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] != "POST":  # the readiness probe of serve_in_thread
            await _respond(send, Answer(200, (), b"ready"))
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self._arrived:
            self._open += 1
            self.peak = max(self.peak, self._open)
            if self._hold and self.peak >= self._hold:
                self._reached.set()
        try:
            if self._hold:
                await asyncio.to_thread(self._reached.wait, 10)
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            host, port = scope.get("client") or ("", 0)
            answer = self._next(scope["path"])
            with self._arrived:
                self.requests.append(Received(scope["path"], headers, body, (host, int(port))))
                self._arrived.notify_all()
            if answer.delay:
                await asyncio.sleep(answer.delay)  # the receiver's own slowness, on its loop
            await _respond(send, answer)
        finally:
            with self._arrived:
                self._open -= 1

    def _next(self, path: str) -> Answer:
        for key in (path, None):
            script = self._scripts.get(key)
            if script:
                return script.popleft()
        return Answer()


async def _respond(send: Any, answer: Answer) -> None:
    headers = [(k.encode(), v.encode()) for k, v in answer.headers]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


@contextlib.contextmanager
def receiving() -> Iterator[tuple[Receiver, str]]:
    """A running receiver until the block ends: (the receiver, its base URL)."""
    receiver = Receiver()
    with serve_in_thread(receiver) as base:
        yield receiver, base
