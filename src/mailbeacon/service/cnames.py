"""Looking up a custom tracking domain's CNAME record, with dnspython.

The resolvers are the operator's (``MAILBEACON_DNS_RESOLVERS``: ``ip`` or ``ip:port``) or the
system's. Every lookup is bounded by ``MAILBEACON_DNS_TIMEOUT_SECONDS`` in all (retries across
resolvers included) and blocks its thread: callers run it in a worker thread, never on the
event loop. What the answer means is core/hosts/domain_checks.py's business; this module only turns
dnspython's answers and exceptions into a :data:`~mailbeacon.core.hosts.domain_checks.Lookup`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ..core.hosts.domain_checks import CnameFound, Lookup, LookupFailed, NoCname

__all__ = ["CnameLookup", "CnameResolver"]


class CnameLookup(Protocol):
    def lookup(self, domain: str) -> Lookup:
        """The CNAME of ``domain`` (blocking)."""
        ...


class CnameResolver:
    def __init__(self, resolvers: Sequence[tuple[str, int]] = (), *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        if resolvers:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(address, port) for address, port in resolvers
            ]
        else:
            self._resolver = dns.resolver.Resolver()  # /etc/resolv.conf
        self._resolver.timeout = timeout  # per resolver tried
        self._resolver.lifetime = timeout  # in all
        self._resolver.cache = None  # a customer who just fixed a record must see it at once

    def describe(self) -> str:
        return ", ".join(str(n) for n in self._resolver.nameservers) or "none"

    def lookup(self, domain: str) -> Lookup:
        name = dns.name.from_text(domain)  # absolute: no search domains
        try:
            answer = self._resolver.resolve(name, dns.rdatatype.CNAME, search=False)
        except dns.resolver.NXDOMAIN:
            return NoCname("NXDOMAIN")
        except dns.resolver.NoAnswer:
            return NoCname("no CNAME in the answer")
        except dns.resolver.LifetimeTimeout:
            return LookupFailed(f"no answer from the resolvers within {self.timeout:g} s")
        except dns.resolver.NoNameservers as exc:
            return LookupFailed(_servers_said(exc))
        except dns.exception.DNSException as exc:
            return LookupFailed(str(exc) or type(exc).__name__)
        for record in answer:
            target = record.target.to_text(omit_final_dot=True).lower()
            return CnameFound(target)
        return NoCname("an empty answer")


def _servers_said(exc: dns.resolver.NoNameservers) -> str:
    """ "SERVFAIL from 127.0.0.1 port 53" rather than dnspython's paragraph."""
    said = [
        f"{error[3]} from {_address(str(error[0]))} port {error[2]}"
        for error in exc.kwargs.get("errors") or []
        if len(error) >= 4
    ]
    return "; ".join(dict.fromkeys(said)) or "no resolver could answer"


def _address(server: str) -> str:
    """dnspython names a resolver "Do53:127.0.0.1@53": the address alone."""
    return server.removeprefix("Do53:").rpartition("@")[0] or server
