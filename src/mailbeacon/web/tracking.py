"""The tracking endpoints, ``/c/{token}`` and ``/o/{token}``: the hot path.

Raw RSGI (granian's own interface), no framework: routing, parsing and response objects would
cost more than the work, and RSGI answers with one synchronous call where ASGI awaits two
messages (web/asgi_bridge.py serves the rest of the application). For each hit:

1. verify the token under the audience of the host it arrived on (service/tracking_hosts.py:
   a dict lookup by Host header), with pure arithmetic: a forged token, or a project's token
   on another project's host, costs no database work and gets a small 404 page, never a
   redirect, so there is no open redirect;
2. for a click, find the destination (an in-memory cache in front of the database);
3. record the observation in this process's hit journal and wait for its group commit
   (store/observations.py into store/journal.py; service/shipper.py moves it to the central
   database later), unless the token is past its lifetime: then the click still redirects
   and the open still gets its pixel, unrecorded;
4. answer: 302 to the destination, or a 43-byte transparent GIF, both ``no-store``.

Classification, webhooks, analytics and the central database never run here (DESIGN.md,
invariant 4). If the journal cannot keep the hit (its disk failing, or full at its cap while
the database is away), the recipient still gets where they were going: a broken link would be
worse than a lost count; the failure is logged and counted. A link known neither in memory
nor in the journal while the central database is away is answered 503 with ``Retry-After``
and a small page (the mail client or the person tries again), never a 500.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable
from datetime import date

from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # see web/asgi_bridge.py
from granian.rsgi import Scope

from ..clock import Clock
from ..core.instrumentation.tokens import EPOCH, Purpose, TokenCodec
from ..service.links import LinkCache
from ..service.shipper import Shipper
from ..service.tracking_hosts import TrackingHosts
from ..store.observations import KIND_CLICK, KIND_HONEYPOT, KIND_OPEN, ObservationWriter, Row

__all__ = ["TrackingEndpoints", "client_ip"]

log = logging.getLogger(__name__)

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_NO_STORE = ("cache-control", "no-store, no-cache, must-revalidate, private, max-age=0")
_PIXEL_HEADERS = [
    ("content-type", "image/gif"),
    _NO_STORE,
    ("pragma", "no-cache"),
    ("expires", "0"),
]
_NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Link not found</title></head>"
    b"<body><p>This link is not valid. Please use the link in your email.</p></body></html>"
)
_NOT_FOUND_HEADERS = [("content-type", "text/html; charset=utf-8"), _NO_STORE]
_UNAVAILABLE_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Try again shortly</title></head>"
    b"<body><p>This link cannot be opened right now. Please try again in a minute.</p>"
    b"</body></html>"
)
_UNAVAILABLE_HEADERS = [*_NOT_FOUND_HEADERS, ("retry-after", "30")]
_METHOD_HEADERS = [("allow", "GET, HEAD")]
# Request headers that tell a prefetch or a machine from a person (issue 4 reads them), each
# with the start of its member in the JSON object stored with the hit.
_KEPT_HEADERS = {
    name: f'"{name}":'
    for name in (
        "accept",
        "accept-language",
        "accept-encoding",
        "sec-purpose",
        "purpose",
        "x-purpose",
        "x-moz",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "sec-fetch-user",
        "sec-ch-ua",
        "sec-gpc",
        "via",
        "from",
    )
}
_DAY_US = 86_400_000_000
_EPOCH_DAYS = (EPOCH - date(1970, 1, 1)).days  # the token calendar's day 0, in Unix days
# json.dumps' own string encoder (C): the object is assembled here because json.dumps with
# separators builds a new encoder per call, a fifth of a click's Python time.
_json_string: Callable[[str], str] = json.encoder.encode_basestring_ascii


def client_ip(scope: Scope, mode: str, trust_forwarded: bool) -> str | None:
    """The client address as the privacy mode allows: whole, truncated (/24, /48) or none."""
    if mode == "none":
        return None
    address = None
    if trust_forwarded:
        forwarded = scope.headers.get("x-forwarded-for")
        if forwarded:
            address = forwarded.split(",")[0].strip()
    if address is None:
        # RSGI names the peer "host:port", an IPv6 host in brackets
        address = scope.client.rpartition(":")[0].strip("[]") or None
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
        shipper: Shipper | None = None,
    ) -> None:
        self._codec = codec
        self._hosts = hosts
        self._links = links
        self._writer = writer
        self._clock = clock
        self._lifetime = codec.lifetime_days
        self._ip_privacy = ip_privacy
        self._trust_forwarded = trust_forwarded
        self._shipper = shipper  # its ``full``: the journal is at its cap
        self.lost = 0  # hits answered but not journalled (the journal's disk failed, or full)
        self.answered = 0  # hits answered with a redirect or a pixel
        self.unavailable = 0  # answered 503: a link unknown here while the database is away

    async def __call__(self, scope: Scope, proto: HTTPProtocol) -> None:
        # One coroutine, whose only await on the common path is the commit: each further
        # coroutine level costs every click its creation and a pass through it on resuming.
        method = scope.method
        if method != "GET" and method != "HEAD":
            proto.response_empty(405, _METHOD_HEADERS)
            return
        path = scope.path
        token = path[3:]
        audience = b""
        hosts = self._hosts
        headers = scope.headers.items()  # once: each call makes every header's text anew
        host = ""
        for name, value in headers:
            if name == "host":
                host = value
                break
        else:
            host = scope.authority or ""  # HTTP/2: :authority
        if hosts is not None:
            known = hosts.known_audience(host)
            if known is None:
                try:
                    known = await hosts.audience(host)
                except Exception:  # a host not in memory, the database away
                    log.warning("tracking host %r unknown here; database unavailable", host)
                    self.unavailable += 1
                    proto.response_bytes(503, _UNAVAILABLE_HEADERS, _UNAVAILABLE_PAGE)
                    return
            audience = known
        codec = self._codec
        url = None
        if path[1] == "o":
            kind = KIND_OPEN
            found = codec.check(Purpose.OPEN, token, audience)
        else:
            kind = KIND_CLICK
            found = codec.check(Purpose.CLICK, token, audience)
            if found is None:
                found = codec.check(Purpose.HONEYPOT, token, audience)
                kind = KIND_HONEYPOT
        if found is None:
            proto.response_bytes(404, _NOT_FOUND_HEADERS, _NOT_FOUND_PAGE)
            return
        copy_id, link_index, issued = found
        if kind != KIND_OPEN:
            # The honeypot answers like a click: to the message's first link (any scanner has
            # fetched it already), so nothing about it looks different.
            target_index = link_index if kind == KIND_CLICK else 0
            url = self._links.get_cached(copy_id, target_index)
            if url is None:
                try:
                    url = await self._links.get(copy_id, target_index)
                except Exception:  # in neither memory nor the journal, the database away
                    log.warning("link of copy %d unknown here; database unavailable", copy_id)
                    self.unavailable += 1
                    proto.response_bytes(503, _UNAVAILABLE_HEADERS, _UNAVAILABLE_PAGE)
                    return
            if url is None:
                proto.response_bytes(404, _NOT_FOUND_HEADERS, _NOT_FOUND_PAGE)
                return
        else:
            link_index = 0
        at_us = self._clock.now_us()
        # the token calendar's day (core/instrumentation/tokens.py) from the time, without a
        # date object
        if at_us // _DAY_US - _EPOCH_DAYS - issued <= self._lifetime:
            shipper = self._shipper
            if shipper is not None and shipper.full:
                self.lost += 1  # the shipper says so loudly; the recipient gets their answer
                shipper.unkept += 1
            else:
                row = self._row(scope, headers, host, copy_id, kind, link_index, method, at_us)
                try:
                    await self._writer.record(row)
                except Exception:
                    self.lost += 1  # logged by the writer; the recipient gets their answer
        self.answered += 1
        if url is None:
            proto.response_bytes(200, _PIXEL_HEADERS, PIXEL)
        else:
            proto.response_empty(302, [("location", url), _NO_STORE])

    def _row(
        self,
        scope: Scope,
        headers: list[tuple[str, str]],
        host: str,
        copy_id: int,
        kind: int,
        index: int,
        method: str,
        at_us: int,
    ) -> Row:
        user_agent = ""
        kept: dict[str, str] = {}  # a repeated header: the last one, as a dict keeps it
        for name, value in headers:
            if name == "user-agent":
                user_agent = value
            else:
                member = _KEPT_HEADERS.get(name)
                if member is not None:
                    kept[name] = member + _json_string(value)
        if not user_agent and "user-agent" in scope.headers:
            user_agent = "\ufffd"  # sent, but not ASCII: granian gives no value (asgi_bridge.py)
        return (
            copy_id,
            kind,
            index,
            at_us,
            method,
            host,
            client_ip(scope, self._ip_privacy, self._trust_forwarded),
            user_agent,
            "{" + ",".join(kept.values()) + "}",
        )
