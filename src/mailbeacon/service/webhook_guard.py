"""Keeping webhooks off private networks, with I/O (core/webhooks/addresses.py says which
addresses).

Two places check a webhook URL:

- creation and update (:meth:`AddressGuard.check_url`): the host is resolved and every
  address it resolves to must be allowed, or the API answers 422;
- every connection of the dispatcher (:func:`guarded_connector`): DNS may answer differently
  by then (rebinding: a public address at creation, 127.0.0.1 at delivery). So the
  dispatcher's aiohttp connector does not resolve names itself: :class:`GuardedResolver`
  resolves through the guard, refuses the host unless every address is allowed, and hands
  over only the checked addresses, which the connector then connects to. TLS still verifies
  the certificate against the host name (aiohttp starts TLS with the URL's host, not the
  address). aiohttp never asks the resolver about a literal address (``http://127.0.0.1/``),
  so the connector's socket factory (:func:`guarded_socket`) checks the address of every
  socket it opens as well: nothing the dispatcher connects to escapes a check.

A refusal at connection time is an :class:`AddressRefused`, an ``OSError``: what aiohttp
expects of a resolver or a socket factory that fails, so it reaches the dispatcher as
aiohttp's ``ClientConnectorError`` (a failed connection), never as a crash.

Resolution runs in a thread (``socket.getaddrinfo``), or through the ``resolve`` function a
caller passes (tests, to play a rebinding DNS server). Answers are cached briefly: a burst of
deliveries to one host resolves once.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..core.errors import AddressRefused, UrlRefused
from ..core.webhooks.addresses import Address, parse_address, refusal

__all__ = [
    "AddressGuard",
    "GuardedResolver",
    "guarded_connector",
    "guarded_socket",
    "system_resolve",
]

CACHE_SECONDS = 30.0
ALLOW_VARIABLE = "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS"


def system_resolve(host: str) -> list[str]:
    """The addresses the system resolver gives for ``host`` (blocking)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"The host {host!r} does not resolve ({exc}).", host=host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass
class AddressGuard:
    """Resolves hosts and refuses the ones that reach addresses webhooks may not call."""

    allow_private: bool = False
    resolve: Callable[[str], list[str]] = system_resolve
    _cache: dict[str, tuple[float, list[Address]]] = field(default_factory=dict, repr=False)

    def check(self, host: str, found: Iterable[str]) -> list[Address]:
        addresses = [a for a in (parse_address(text) for text in found) if a is not None]
        if not addresses:
            raise UrlRefused(f"The host {host!r} has no address.", host=host)
        if not self.allow_private:
            for address in addresses:
                reason = refusal(address)
                if reason is not None:
                    literal = parse_address(host) is not None
                    what = f"is {reason}" if literal else f"resolves to {address}, {reason}"
                    raise UrlRefused(
                        f"The webhook host {host!r} {what}: webhooks may only call public "
                        f"addresses (the operator can allow others with {ALLOW_VARIABLE}).",
                        host=host,
                    )
        return addresses

    def addresses(self, host: str) -> list[Address]:
        """The checked addresses of ``host`` (blocking; cached for a while)."""
        literal = parse_address(host)
        if literal is not None:
            return self.check(host, [str(literal)])
        cached = self._cache.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        checked = self.check(host, self.resolve(host))
        self._cache[host] = (time.monotonic() + CACHE_SECONDS, checked)
        return checked

    async def addresses_async(self, host: str) -> list[Address]:
        literal = parse_address(host)
        if literal is not None:
            return self.check(host, [str(literal)])
        cached = self._cache.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return await asyncio.to_thread(self.addresses, host)

    def check_url(self, url: str) -> None:
        """Raise :class:`UrlRefused` unless ``url`` is an http(s) URL whose host resolves to
        allowed addresses only."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused("The webhook URL must be an absolute http:// or https:// URL.")
        self.addresses(parts.hostname)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, answering with the guard's checked addresses of a host only.

    It resolves through the guard (its ``resolve`` function and cache) rather than wrapping
    another aiohttp resolver, so that creation and delivery judge a name by the same
    lookup, and tests can play a rebinding DNS server by passing ``resolve``."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await self.guard.addresses_async(host)
        except UrlRefused as exc:
            raise AddressRefused(exc) from exc
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: lookups run in the default thread pool."""


def guarded_socket(guard: AddressGuard) -> aiohttp.SocketFactoryType:
    """A socket factory for aiohttp's connector that refuses the addresses ``guard``
    refuses: it sees the very address each socket is about to connect to, literal or
    resolved."""

    def open_socket(addr_info: aiohttp.AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = addr_info
        host = str(address[0])
        try:
            guard.check(host, [host])
        except UrlRefused as exc:
            raise AddressRefused(exc) from exc
        return socket.socket(family, kind, proto)

    return open_socket


def guarded_connector(
    guard: AddressGuard,
    *,
    limit: int,
    keepalive_timeout: float,
    ssl_context: ssl.SSLContext,
) -> aiohttp.TCPConnector:
    """aiohttp's connector, connecting only to addresses ``guard`` allows: names through
    :class:`GuardedResolver`, every socket through :func:`guarded_socket`. aiohttp's own
    DNS cache is off: the guard's is the only one. tests/webhooks checks both paths (a
    rebinding name and a literal loopback address are refused at delivery)."""
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(guard),
        socket_factory=guarded_socket(guard),
        use_dns_cache=False,
        limit=limit,
        keepalive_timeout=keepalive_timeout,
        ssl=ssl_context,
    )
