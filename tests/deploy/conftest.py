"""The loopback DNS server (tests/support/dns_server.py) for the deployment tests."""

from __future__ import annotations

from tests.support.dns_server import dns_zone

__all__ = ["dns_zone"]
