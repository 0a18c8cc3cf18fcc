"""Which network addresses a webhook may reach: the rule against server-side request forgery.

A webhook URL is chosen by a tenant, and mailbeacon POSTs to it from inside the operator's
network. Without a rule a tenant could make mailbeacon call its own admin ports, the database,
or a cloud metadata service (169.254.169.254 hands out credentials). So every address a
webhook host resolves to is checked, at creation and again at each connection (the DNS answer
may change in between: rebinding), and these are refused unless the operator allows private
networks:

==========================  =========================================================
address                     why it is refused
==========================  =========================================================
cloud metadata services     169.254.169.254 (AWS, GCP, Azure, ...), fd00:ec2::254
                            (AWS IPv6), 100.100.100.200 (Alibaba), 168.63.129.16
                            (Azure's wire server, a public address)
unspecified                 0.0.0.0, :: (connects to this machine)
loopback                    127.0.0.0/8, ::1
link-local                  169.254.0.0/16, fe80::/10
multicast                   224.0.0.0/4, ff00::/8
shared address space        100.64.0.0/10 (carrier-grade NAT)
reserved                    240.0.0.0/4 and the reserved IPv6 blocks
private                     RFC 1918, fc00::/7 (unique local) and the other
                            special-purpose ranges Python's ``ipaddress`` lists
anything not global         documentation, benchmarking and other special ranges
==========================  =========================================================

IPv6 addresses that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the IPv4 address inside: ``::ffff:127.0.0.1``
reaches loopback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

__all__ = ["Address", "parse_address", "refusal"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# In order: the first that matches names the reason (loopback is also "private" to Python).
_RULES: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda a: a in _METADATA, "a cloud metadata address"),
    (lambda a: a.is_unspecified, "an unspecified address"),
    (lambda a: a.is_loopback, "a loopback address"),
    (lambda a: a.is_link_local, "a link-local address"),
    (lambda a: a.is_multicast, "a multicast address"),
    (lambda a: a.version == 4 and a in _SHARED, "a shared (carrier-grade NAT) address"),
    (lambda a: a.is_reserved, "a reserved address"),
    (lambda a: a.is_private, "a private address"),
    (lambda a: not a.is_global, "not a public address"),
)


def parse_address(text: str) -> Address | None:
    """The address ``text`` spells (brackets and an IPv6 zone allowed), or None for a name."""
    candidate = text.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _inner(address: Address) -> Address:
    """The IPv4 address an IPv6 address carries, if it carries one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: Address) -> str | None:
    """Why a webhook may not connect to ``address`` ("a loopback address"), or None."""
    inner = _inner(address)
    for rule, reason in _RULES:
        if rule(inner):
            return reason
    return None
