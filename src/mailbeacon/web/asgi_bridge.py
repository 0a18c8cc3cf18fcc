"""An ASGI application (the FastAPI one) served from granian's RSGI interface.

`mailbeacon serve` speaks RSGI, granian's own interface, because the tracking endpoints answer
through it with one synchronous call (``proto.response_empty``) where ASGI takes two awaited
messages, each a dict the server converts; on the redirect path that difference is a tenth
of a click's time (web/tracking.py). Everything else is the FastAPI application, which
speaks ASGI: this module translates one HTTP request at a time, as granian's own ASGI
interface would have. Only what the API uses: HTTP, no websockets, no lifespan (the
application's start and stop are MailbeaconApp's).

RSGI hands over headers as text, and granian leaves out of them a header whose value is not
visible ASCII, though it still lists its name. Dropping it would turn a malformed header into
an absent one (a bad Idempotency-Key would be ignored, not refused), so such a header reaches
the application with U+FFFD as its value, which every check here refuses. The path comes
percent-decoded; ``raw_path`` is rebuilt from it.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

# granian.rsgi re-exports these without declaring it (mypy --strict refuses them there)
from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian.rsgi import Scope as RsgiScope

__all__ = ["serve_asgi"]

Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]

_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _address(text: str) -> tuple[str, int] | None:
    """``'host:port'`` (``'[::1]:port'`` for IPv6), as RSGI gives it, as ASGI's pair."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def asgi_scope(scope: RsgiScope) -> dict[str, Any]:
    path = scope.path
    query = scope.query_string
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": scope.http_version,
        "method": scope.method,
        "scheme": scope.scheme,
        "path": path,
        "raw_path": quote(path).encode("ascii"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": _headers(scope),
        "client": _address(scope.client),
        "server": _address(scope.server),
    }


_UNREADABLE = "\ufffd".encode()


def _headers(scope: RsgiScope) -> list[tuple[bytes, bytes]]:
    readable = scope.headers.items()
    found = [
        (name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in readable
    ]
    names = scope.headers.keys()
    if len(names) != len(readable):  # values granian could not read: present, but unreadable
        missing = Counter(names)
        missing.subtract(name for name, _ in readable)
        for name, count in missing.items():
            found.extend([(name.encode("latin-1"), _UNREADABLE)] * count)
    return found


async def serve_asgi(app: AsgiApp, scope: RsgiScope, proto: HTTPProtocol) -> None:
    """Run ``app`` for one HTTP request received over RSGI."""
    body_read = False
    chunks: Any = None

    async def receive() -> Message:
        # The body is handed on chunk by chunk, as it arrives: web/limits.py counts it and
        # refuses an oversized one before it is all in memory.
        nonlocal body_read, chunks
        if not body_read:
            if chunks is None:
                chunks = proto.__aiter__()
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                body_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except ProtocolClosed:
                body_read = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": chunk, "more_body": True}
        # Asked again (a streaming response watching for the client going away): wait for it.
        await proto.client_disconnect()
        return {"type": "http.disconnect"}

    status = 500
    headers: list[tuple[str, str]] = []
    started = answered = False
    stream: Any = None

    async def send(message: Message) -> None:
        nonlocal status, headers, started, answered, stream
        kind = message["type"]
        if kind == "http.response.start":
            status = int(message["status"])
            headers = [
                (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
            started = True
        elif kind == "http.response.body":
            if not started:
                raise RuntimeError("http.response.body before http.response.start")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if stream is None and not more:  # the common case: one body, one call
                proto.response_bytes(status, headers, body)
                answered = True
                return
            if stream is None:
                stream = proto.response_stream(status, headers)
                answered = True
            if body:
                with contextlib.suppress(ProtocolClosed):  # the client went away
                    await stream.send_bytes(body)

    try:
        await app(asgi_scope(scope), receive, send)
    finally:
        if not answered:  # the application failed before answering (it logged why)
            proto.response_bytes(500, [("content-type", "text/plain")], b"Internal Server Error")
