"""A real DNS server for tests: dnslib's ``DNSServer`` on a free UDP port of loopback.

It answers from a zone the test edits while it runs::

    zone.cname("track.shop.test", "custom.t.example.test")   # a CNAME
    zone.nxdomain("gone.shop.test")                          # NXDOMAIN (the default)
    zone.no_answer("bare.shop.test")                         # NOERROR, an empty answer
    zone.servfail("broken.shop.test")                        # SERVFAIL

and records the questions it was asked. Point mailbeacon at it with
``MAILBEACON_DNS_RESOLVERS=127.0.0.1:<port>`` (:attr:`DnsZone.resolvers`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import CNAME, QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSLogger, DNSServer

__all__ = ["DnsZone", "dns_zone", "running_zone", "silent_resolver"]


@dataclass
class DnsZone:
    port: int = 0
    asked: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    _answers: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def resolvers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cname(self, name: str, target: str) -> None:
        self._set(name, "cname", target)

    def nxdomain(self, name: str) -> None:
        self._set(name, "nxdomain", None)

    def no_answer(self, name: str) -> None:
        self._set(name, "no_answer", None)

    def servfail(self, name: str) -> None:
        self._set(name, "servfail", None)

    def _set(self, name: str, kind: str, target: str | None) -> None:
        with self._lock:
            self._answers[name.lower().rstrip(".")] = (kind, target)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        """dnslib's resolver interface, called on the server's thread."""
        name = str(request.q.qname).lower().rstrip(".")
        with self._lock:
            self.asked.append((name, QTYPE[request.q.qtype]))
            kind, target = self._answers.get(name, ("nxdomain", None))
        reply = request.reply()
        if kind == "cname" and target is not None:
            reply.add_answer(RR(request.q.qname, QTYPE.CNAME, rdata=CNAME(target + "."), ttl=60))
        elif kind == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        elif kind == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
        return reply


@contextlib.contextmanager
def running_zone() -> Iterator[DnsZone]:
    zone = DnsZone()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error", logf=lambda _: None)
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=quiet)
    zone.port = int(server.server.server_address[1])
    # serve_forever polls for shutdown every 0.5 s by default: every test would wait for it.
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield zone
    finally:
        server.stop()
        thread.join(5)
        server.server.server_close()


@pytest.fixture
def dns_zone() -> Iterator[DnsZone]:
    """A DNS server on loopback answering from a zone the test edits."""
    with running_zone() as zone:
        yield zone


@contextlib.contextmanager
def silent_resolver() -> Iterator[str]:
    """A UDP port that takes questions and never answers: "ip:port", for timeouts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
