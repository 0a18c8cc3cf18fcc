"""What every API request must be before an endpoint sees it (an ASGI middleware).

- **Size**: a body larger than ``max_request_bytes`` is answered 413 without reading it whole:
  at once when ``Content-Length`` says so, else as soon as the chunks counted so far pass the
  limit (asgi_bridge.py hands the body on as it arrives). Memory stays near the limit, never
  near what a client chooses to send.
- **Storable text** (core/text.py): a JSON body holding a NUL or a lone surrogate anywhere is
  refused with a 422 naming each field, so the same body gets the same answer on SQLite and
  PostgreSQL and no endpoint has to think of it. Such text can only arrive as a ``\\u``
  escape (raw NUL is not valid JSON, raw surrogates are not valid UTF-8), so the body is
  walked only when a byte scan finds one. A JSON document nested too deep for the parser is
  refused here too.
- **Path and query**: a NUL in the path cannot name anything (404); in a query parameter it
  is refused naming the parameter.

Everything else (the shape of a body, its fields) is each endpoint's own validation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..core.errors import ApiError
from ..core.text import storable_problem, unstorable
from ..memory import after_large
from .errors import error_body

__all__ = ["RequestLimits"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# \u0000 or a \uD800-\uDFFF escape, in either letter case (an escaped backslash before it
# makes a false alarm, which the walk then clears).
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89abAB][0-9a-fA-F]{2}|[dD][c-fC-F][0-9a-fA-F]{2})")

_DEEP = 200  # brackets; Python's json parser recurses once per level (limit ~1,000)


class _TooLarge(Exception):
    pass


class RequestLimits:
    def __init__(self, app: App, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_target(scope)
        if refusal is None and self._declared_length(scope) > self.max_body:
            refusal = self._too_large()
        if refusal is not None:
            await _answer(send, refusal)
            return
        try:
            body, disconnected = await self._read(receive)
        except _TooLarge:
            await _answer(send, self._too_large())
            after_large(self.max_body)
            return
        try:
            refusal = _check_json(scope, body)
            if refusal is not None:
                await _answer(send, refusal)
                return
            await self.app(scope, _replay(body, disconnected, receive), send)
        finally:
            after_large(len(body))  # its buffers back to the system (memory.py)

    def _check_target(self, scope: MutableMapping[str, Any]) -> ApiError | None:
        if "\x00" in scope["path"]:
            return ApiError(404, "No such endpoint.")
        query = scope.get("query_string", b"").decode("latin-1")
        if "%00" not in query and "\x00" not in query:
            return None
        errors: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            for text in (name, value):
                problem = storable_problem(text)
                if problem is not None:
                    errors.setdefault(name, []).append(f"The {name} parameter {problem}.")
        if not errors:
            return None
        first = next(iter(errors.values()))[0]
        return ApiError(422, first, errors=errors)

    @staticmethod
    def _declared_length(scope: MutableMapping[str, Any]) -> int:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0  # the server refuses a malformed length before we are called
        return 0

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            f"The request body is larger than {self.max_body} bytes "
            "(MAILBEACON_MAX_REQUEST_BYTES).",
            code="payload_too_large",
        )


def _check_json(scope: MutableMapping[str, Any], body: bytes) -> ApiError | None:
    if not body or not _is_json(scope):
        return None
    suspect = _SUSPECT.search(body) is not None
    # Nesting deep enough to exhaust the parser's recursion needs that many brackets; below
    # that the endpoint's own parse is the only one.
    if not suspect and body.count(b"[") + body.count(b"{") < _DEEP:
        return None
    try:
        document = json.loads(body)
    except RecursionError:
        return ApiError(
            422, "The JSON body is nested too deeply.", errors={"body": ["Nested too deeply."]}
        )
    except ValueError:
        return None  # not JSON: the endpoint's parser says so in its own words
    if not suspect:
        return None
    errors = unstorable(document)
    if not errors:
        return None
    first = next(iter(errors.values()))[0]
    return ApiError(422, first, errors=errors)


def _is_json(scope: MutableMapping[str, Any]) -> bool:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a streaming response waiting for the client to go away

    return replay


async def _answer(send: Send, error: ApiError) -> None:
    content = json.dumps(
        error_body(error.status, error.message, error.code, error.errors, error.details)
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
    ]
    if error.status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
