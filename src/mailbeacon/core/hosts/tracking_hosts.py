"""Which host a project's tracking links are minted for, and whose tokens a host accepts.

Three kinds of host answer ``/c/`` and ``/o/``:

- the shared host, that of ``MAILBEACON_PUBLIC_URL`` (and every host mailbeacon does not know,
  such as an IP address): its tokens carry no audience, as every link did before tracking
  domains, so those links keep working;
- a project's default host ``p{sid}.{base}``, when the operator has a tracking base domain
  with wildcard DNS: the project is read from the name itself, with no lookup;
- a project's active custom domains (CNAME verified): looked up in a map the caller keeps.

Links on the last two are minted for the project's audience (its sid) and checked under the
audience of the host they arrive on, so a project's token presented on another project's host
fails exactly like a forgery (core/instrumentation/tokens.py), at no database cost.
Because the audience is the project and not the host, a link keeps working on the host it
was minted for after the project moves to another one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .hostnames import is_under

__all__ = [
    "SHARED",
    "HostMap",
    "TrackingOrigin",
    "could_be_custom",
    "default_host",
    "origin_for",
    "sid_of_default_host",
    "with_host",
]

SHARED = b""  # the audience of the shared host
# Project sids are lower-case letters and digits (store/tenancy.py): valid DNS labels as they
# are. A few lengths around today's 8 are accepted, in case sids ever grow.
_SID = re.compile(r"[a-z0-9]{4,16}")


@dataclass(frozen=True, slots=True)
class TrackingOrigin:
    """Where a copy's tracking links point and whom their tokens are minted for."""

    base_url: str  # links are base_url + /c/{token}, /o/{token}
    audience: bytes = SHARED


def default_host(sid: str, base_domain: str) -> str:
    return f"p{sid.lower()}.{base_domain}"


def sid_of_default_host(host: str, base_domain: str) -> str | None:
    """The sid that ``host`` (normalised) names as ``p{sid}.{base_domain}``, or None."""
    if not host.endswith(base_domain) or len(host) <= len(base_domain) + 2:
        return None
    label = host[: -len(base_domain)]
    if label[-1] != "." or label[0] != "p":
        return None
    sid = label[1:-1]
    return sid if _SID.fullmatch(sid) else None


def with_host(base_url: str, host: str) -> str:
    """``base_url`` (scheme, port, path kept) on ``host``: tracking hosts are served by the
    same server and proxy as the public URL, only under other names."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def origin_for(
    public_url: str, base_domain: str | None, sid: str, custom_domain: str | None
) -> TrackingOrigin:
    """A project's tracking origin: its newest active custom domain, else its default host,
    else the shared public URL (no audience, as before tracking domains)."""
    if custom_domain:
        return TrackingOrigin(with_host(public_url, custom_domain), sid.encode("ascii"))
    if base_domain:
        host = default_host(sid, base_domain)
        return TrackingOrigin(with_host(public_url, host), sid.encode("ascii"))
    return TrackingOrigin(public_url, SHARED)


def could_be_custom(host: str) -> bool:
    """Whether ``host`` (normalised) could be a custom domain: a name of three labels or more,
    not an IP address. Anything else is answered as the shared host without a lookup."""
    if host.count(".") < 2 or host.startswith("["):
        return False
    return not host.rpartition(".")[2].isdigit()  # an IPv4 address ends in a number


@dataclass(frozen=True, slots=True)
class HostMap:
    """What every tracking host means, as of one reading of the active custom domains."""

    public_host: str
    base_domain: str | None = None
    custom: Mapping[str, str] = field(default_factory=dict)  # active custom domain -> sid

    def audience(self, host: str) -> bytes | None:
        """The audience of tokens valid on ``host`` (normalised), or None when it could be a
        custom domain this map does not know (yet): the caller may look again, and otherwise
        answers it as the shared host."""
        sid = self.custom.get(host)
        if sid is not None:
            return sid.encode("ascii")
        if host == self.public_host:
            return SHARED
        if self.base_domain is not None:
            sid = sid_of_default_host(host, self.base_domain)
            if sid is not None:
                return sid.encode("ascii")
            if is_under(host, self.base_domain):  # the CNAME target, say: no project's
                return SHARED
        return None if could_be_custom(host) else SHARED
