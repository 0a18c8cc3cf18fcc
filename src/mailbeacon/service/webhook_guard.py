"""Keeping webhooks off private networks (core/addresses.py says which addresses), with I/O.

Two places check a webhook URL:

- creation and update (:meth:`AddressGuard.check_url`): the host is resolved and every
  address it resolves to must be allowed, or the API answers 422;
- every connection of the dispatcher (:class:`GuardedBackend`): DNS may answer differently
  by then (rebinding: a public address at creation, 127.0.0.1 at delivery). So the
  dispatcher's HTTP client does not resolve names itself: its network backend resolves the
  host, checks the addresses, and connects to the checked address. Nothing else is
  connected to, so no answer given between a check and a connection can slip through, and
  TLS still verifies the certificate against the host name (httpcore starts TLS with the
  origin's name, not the address).

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
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ..core.addresses import Address, parse_address, refusal
from ..core.errors import MailbeaconError

__all__ = ["AddressGuard", "GuardedBackend", "UrlRefused", "guarded_transport", "system_resolve"]

CACHE_SECONDS = 30.0
ALLOW_VARIABLE = "MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS"


class UrlRefused(MailbeaconError):
    """A webhook URL that may not be called: what is wrong, for the API's answer."""


def system_resolve(host: str) -> list[str]:
    """The addresses the system resolver gives for ``host`` (blocking)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"The host {host!r} does not resolve ({exc}).") from exc
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
            raise UrlRefused(f"The host {host!r} has no address.")
        if not self.allow_private:
            for address in addresses:
                reason = refusal(address)
                if reason is not None:
                    literal = parse_address(host) is not None
                    what = f"is {reason}" if literal else f"resolves to {address}, {reason}"
                    raise UrlRefused(
                        f"The webhook host {host!r} {what}: webhooks may only call public "
                        f"addresses (the operator can allow others with {ALLOW_VARIABLE})."
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


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses of the host."""

    def __init__(self, guard: AddressGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.guard.addresses_async(host)
        except UrlRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:  # the host's next address, as browsers do
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not delivered over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(
    guard: AddressGuard, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, connecting through :class:`GuardedBackend`.

    httpx has no parameter for the network backend, so its connection pool (the transport's
    ``_pool`` since httpx 0.18) is replaced by an identical one that has it; requests,
    responses and errors still go through httpx's own mapping. tests/webhooks checks that
    the guard is in effect (a rebinding host is refused at connection time)."""
    context = ssl_context or httpx.create_ssl_context()  # loading the CAs takes a while
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(guard),
    )
    return transport
