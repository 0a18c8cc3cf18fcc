"""Known networks: which provider an IP address belongs to, and what that says about a hit.

Lists of published ranges (mail-security services, mail providers' image proxies, Apple's
relay) ship as data files and can be replaced by operators (``mailbeacon data import``); this
module only holds them and answers lookups, by binary search over sorted integer ranges.

Confidence is "certain" (the provider documents the range as its scanning or proxy egress)
or "probable" (the provider's network, which may also carry other traffic).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NetworkRange", "NetworkTable", "parse_ranges"]

ROLES = ("scanner", "image_proxy", "apple_relay")
CONFIDENCES = ("certain", "probable")


@dataclass(frozen=True, slots=True)
class NetworkRange:
    network: str  # CIDR
    provider: str  # microsoft_eop, barracuda, proofpoint, mimecast, cisco, google, apple ...
    role: str  # scanner, image_proxy, apple_relay
    confidence: str  # certain, probable
    source: str = ""


class NetworkTable:
    """Looks addresses up among ranges; the most specific matching range wins.

    One dict per prefix length: a lookup masks the address once per length in use (a dozen or
    so), which is exact for nested ranges and needs no sorting.
    """

    def __init__(self, ranges: Iterable[NetworkRange]) -> None:
        self._ranges: list[NetworkRange] = []
        self._by_prefix: dict[int, dict[int, dict[int, int]]] = {4: {}, 6: {}}
        for item in ranges:
            network = ipaddress.ip_network(item.network, strict=False)
            self._by_prefix[network.version].setdefault(network.prefixlen, {}).setdefault(
                int(network.network_address), len(self._ranges)
            )
            self._ranges.append(item)
        self._lengths = {
            version: sorted(table, reverse=True) for version, table in self._by_prefix.items()
        }
        self._seen: dict[str, NetworkRange | None] = {}  # addresses repeat: /24s, proxies

    def __len__(self) -> int:
        return len(self._ranges)

    def lookup(self, address: str | None) -> NetworkRange | None:
        if not address:
            return None
        try:
            return self._seen[address]
        except KeyError:
            pass
        found = self._lookup(address)
        if len(self._seen) > 100_000:
            self._seen.clear()
        self._seen[address] = found
        return found

    def _lookup(self, address: str) -> NetworkRange | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        bits = 32 if ip.version == 4 else 128
        value = int(ip)
        tables = self._by_prefix[ip.version]
        for prefix in self._lengths[ip.version]:
            index = tables[prefix].get(value >> (bits - prefix) << (bits - prefix))
            if index is not None:
                return self._ranges[index]
        return None


def parse_ranges(text: str, *, source: str = "") -> list[NetworkRange]:
    """Ranges from CSV lines ``network,provider,role,confidence`` (# comments allowed).

    Raises ValueError naming the line for anything malformed.
    """
    found: list[NetworkRange] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line or line.lower().startswith("network,"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            raise ValueError(f"line {number}: expected network,provider,role,confidence")
        network, provider, role, confidence = parts
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if role not in ROLES:
            raise ValueError(f"line {number}: role must be one of {', '.join(ROLES)}")
        if confidence not in CONFIDENCES:
            raise ValueError(f"line {number}: confidence must be certain or probable")
        if not provider or not provider.replace("_", "").isalnum():
            raise ValueError(f"line {number}: provider must be a snake_case name")
        found.append(NetworkRange(network, provider, role, confidence, source))
    return found
