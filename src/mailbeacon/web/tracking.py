"""The tracking endpoints, ``/c/{token}`` and ``/o/{token}``: the hot path.

Raw ASGI, no framework: routing, parsing and response objects would cost more than the work.
For each hit:

1. verify the token under the audience of the host it arrived on (service/tracking_hosts.py:
   a dict lookup by Host header), with pure arithmetic: a forged token, or a project's token
   on another project's host, costs no database work and gets a small 404 page, never a
   redirect, so there is no open redirect;
2. for a click, find the destination (an in-memory cache in front of the database);
3. record the observation and wait for its group commit (store/observations.py), unless the
   token is past its lifetime: then the click still redirects and the open still gets its
   pixel, unrecorded;
4. answer: 302 to the destination, or a 43-byte transparent GIF, both ``no-store``.

Classification, webhooks and analytics never run here (DESIGN.md, invariant 4). If the
database cannot record the hit, the recipient still gets where they were going: a broken link
would be worse than a lost count, and the failure is logged and counted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from datetime import datetime
from typing import Any

from ..clock import Clock
from ..core.tokens import Purpose, TokenCodec, day_number
from ..service.tracking_hosts import TrackingHosts
from ..store.db import Database
from ..store.messages import message_links
from ..store.observations import KIND_CLICK, KIND_HONEYPOT, KIND_OPEN, ObservationWriter

__all__ = ["LinkCache", "TrackingEndpoints", "client_ip"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_NO_STORE = (b"cache-control", b"no-store, no-cache, must-revalidate, private, max-age=0")
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(PIXEL)).encode()),
    _NO_STORE,
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]
_NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Link not found</title></head>"
    b"<body><p>This link is not valid. Please use the link in your email.</p></body></html>"
)
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(_NOT_FOUND_PAGE)).encode()),
    _NO_STORE,
]
_METHOD_HEADERS = [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]
# Request headers that tell a prefetch or a machine from a person (issue 4 reads them), each
# with the start of its member in the JSON object stored with the hit.
_KEPT_HEADERS = {
    name: f'"{name.decode()}":'
    for name in (
        b"accept",
        b"accept-language",
        b"accept-encoding",
        b"sec-purpose",
        b"purpose",
        b"x-purpose",
        b"x-moz",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"sec-fetch-dest",
        b"sec-fetch-user",
        b"sec-ch-ua",
        b"sec-gpc",
        b"via",
        b"from",
    )
}
# json.dumps' own string encoder (C): the object is assembled here because json.dumps with
# separators builds a new encoder per call, a fifth of a click's Python time.
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


class LinkCache:
    """Destinations by (copy id, link index): dict lookups in front of the database.

    Links belong to the message, so the cache holds each message's link list once and maps
    copies to messages: a first click on any recipient's copy loads the whole message. Accepting
    a message primes the cache (same process), so even first clicks rarely reach the database.
    Links never change once accepted: entries never go stale; a full cache forgets half.
    """

    def __init__(self, db: Database, capacity: int = 500_000) -> None:
        self._db = db
        self._capacity = capacity
        self._message_of: dict[int, int] = {}
        self._links: dict[int, tuple[str, ...]] = {}

    def get_cached(self, copy_id: int, link_index: int) -> str | None:
        message = self._message_of.get(copy_id)
        if message is None:
            return None
        urls = self._links.get(message)
        if urls is None or link_index >= len(urls):
            return None
        return urls[link_index]

    def prime(self, message_id: int, copy_ids: Iterable[int], urls: Sequence[str]) -> None:
        if len(self._message_of) >= self._capacity:
            self._message_of = dict(list(self._message_of.items())[self._capacity // 2 :])
            kept = set(self._message_of.values())
            self._links = {m: u for m, u in self._links.items() if m in kept}
        self._links[message_id] = tuple(urls)
        for copy_id in copy_ids:
            self._message_of[copy_id] = message_id

    async def get(self, copy_id: int, link_index: int) -> str | None:
        url = self.get_cached(copy_id, link_index)
        if url is not None:
            return url
        loaded = await asyncio.get_running_loop().run_in_executor(None, self._load, copy_id)
        if loaded is None:
            return None
        message_id, urls = loaded
        self.prime(message_id, (copy_id,), urls)
        return urls[link_index] if link_index < len(urls) else None

    def _load(self, copy_id: int) -> tuple[int, list[str]] | None:
        with self._db.read() as conn:
            return message_links(conn, copy_id)


def client_ip(scope: Scope, mode: str, trust_forwarded: bool) -> str | None:
    """The client address as the privacy mode allows: whole, truncated (/24, /48) or none."""
    if mode == "none":
        return None
    address = None
    if trust_forwarded:
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                address = value.decode("latin-1").split(",")[0].strip()
                break
    if address is None:
        client = scope.get("client")
        address = str(client[0]) if client else None
    if address is None or mode == "full":
        return address
    if address.count(".") == 3 and ":" not in address:  # IPv4, the common case: no parsing
        return address[: address.rindex(".")] + ".0"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class TrackingEndpoints:
    def __init__(
        self,
        codec: TokenCodec,
        links: LinkCache,
        writer: ObservationWriter,
        clock: Clock,
        *,
        ip_privacy: str = "truncated",
        trust_forwarded: bool = False,
        hosts: TrackingHosts | None = None,
    ) -> None:
        self._codec = codec
        self._hosts = hosts
        self._links = links
        self._writer = writer
        self._clock = clock
        self._lifetime = codec.lifetime_days
        self._ip_privacy = ip_privacy
        self._trust_forwarded = trust_forwarded
        self.lost = 0  # hits answered but not recorded (database unavailable)

    async def __call__(self, scope: Scope, send: Send) -> None:
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await _answer(send, 405, _METHOD_HEADERS, b"", False)
            return
        path: str = scope["path"]
        token = path[3:]
        audience = b""
        hosts = self._hosts
        if hosts is not None:
            host = b""
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                    break
            known = hosts.known_audience(host)
            audience = known if known is not None else await hosts.audience(host)
        if path[1] == "o":
            await self._open(scope, send, token, method, audience)
        else:
            await self._click(scope, send, token, method, audience)

    async def _open(
        self, scope: Scope, send: Send, token: str, method: str, audience: bytes
    ) -> None:
        found = self._codec.check(Purpose.OPEN, token, audience)
        if found is None:
            await _answer(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_PAGE, method == "HEAD")
            return
        copy_id, _, issued = found
        now = self._clock.now()
        if not self._expired(issued, now):
            await self._record(scope, copy_id, KIND_OPEN, 0, method, now)
        await _answer(send, 200, _PIXEL_HEADERS, PIXEL, method == "HEAD")

    async def _click(
        self, scope: Scope, send: Send, token: str, method: str, audience: bytes
    ) -> None:
        kind = KIND_CLICK
        found = self._codec.check(Purpose.CLICK, token, audience)
        if found is None:
            found = self._codec.check(Purpose.HONEYPOT, token, audience)
            kind = KIND_HONEYPOT
        if found is None:
            await _answer(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_PAGE, method == "HEAD")
            return
        copy_id, link_index, issued = found
        # The honeypot answers like a click: to the message's first link (any scanner has
        # fetched it already), so nothing about it looks different.
        target_index = link_index if kind == KIND_CLICK else 0
        url = self._links.get_cached(copy_id, target_index)
        if url is None:
            url = await self._links.get(copy_id, target_index)
        if url is None:
            await _answer(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_PAGE, method == "HEAD")
            return
        now = self._clock.now()
        if not self._expired(issued, now):
            await self._record(scope, copy_id, kind, link_index, method, now)
        headers = [(b"location", url.encode("utf-8")), (b"content-length", b"0"), _NO_STORE]
        await _answer(send, 302, headers, b"", True)

    def _expired(self, issued: int, now: datetime) -> bool:
        return day_number(now.date()) - issued > self._lifetime

    async def _record(
        self, scope: Scope, copy_id: int, kind: int, index: int, method: str, now: datetime
    ) -> None:
        user_agent = ""
        host = ""
        kept: dict[bytes, str] = {}  # a repeated header: the last one, as a dict keeps it
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            else:
                member = _KEPT_HEADERS.get(name)
                if member is not None:
                    kept[name] = member + _json_string(value.decode("latin-1"))
        row = (
            copy_id,
            kind,
            index,
            int(now.timestamp() * 1_000_000),
            method,
            host,
            client_ip(scope, self._ip_privacy, self._trust_forwarded),
            user_agent,
            "{" + ",".join(kept.values()) + "}",
        )
        try:
            await self._writer.record(row)
        except Exception:
            self.lost += 1  # logged by the writer; the recipient still gets their answer


async def _answer(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
