"""Custom tracking domains: what one DNS lookup means for a domain's status.

A domain starts ``pending_cname``: the customer is to create ``CNAME <domain> -> <target>``.
Each check (on creation, every few minutes while pending, and whenever asked) looks the CNAME
up and :func:`decide` says what follows:

===============  =======================  ==================================================
status           the CNAME ...            then
===============  =======================  ==================================================
pending_cname    points at the target     ``active``: the project's tracking host from now on
pending_cname    is missing or elsewhere  ``pending_cname`` with the reason; ``failed`` with
                 or the lookup failed     it once the deadline after creation has passed
failed           points at the target     ``active`` (a check asked for after the fix)
failed           anything else            ``failed``, with the new reason
active           anything                 ``active``: links already sent use the domain, and
                                          a DNS hiccup must not break them (logged instead)
===============  =======================  ==================================================

Lettr's ``pending_ssl`` has no counterpart: certificates are Caddy's, obtained on demand at
the first TLS handshake (deploy/Caddyfile), so a verified domain is active at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "CnameFound",
    "Decision",
    "DomainStatus",
    "Lookup",
    "LookupFailed",
    "NoCname",
    "decide",
    "reason_of",
]


class DomainStatus(enum.Enum):
    PENDING_CNAME = "pending_cname"
    ACTIVE = "active"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CnameFound:
    target: str  # normalised: lower case, no trailing dot


@dataclass(frozen=True, slots=True)
class NoCname:
    """The name does not exist (NXDOMAIN) or has no CNAME (NOERROR, no answer)."""

    detail: str


@dataclass(frozen=True, slots=True)
class LookupFailed:
    """No answer to judge by: timeouts, SERVFAIL, refusals."""

    error: str


Lookup = CnameFound | NoCname | LookupFailed


@dataclass(frozen=True, slots=True)
class Decision:
    status: DomainStatus
    reason: str | None  # a sentence for the user; None when all is well
    verified: bool  # the CNAME was seen pointing at the target in this check
    problem: str | None = None  # what the check found wrong, kept in the log for active ones


def reason_of(lookup: Lookup, expected: str) -> str | None:
    """The user's sentence for what a lookup found, or None when the CNAME is right."""
    if isinstance(lookup, CnameFound):
        if lookup.target == expected:
            return None
        return f"CNAME points to {lookup.target}, expected {expected}"
    if isinstance(lookup, NoCname):
        return "no CNAME record found"
    return f"DNS lookup failed: {lookup.error}"


def decide(
    status: DomainStatus,
    lookup: Lookup,
    *,
    expected: str,
    created_at: datetime,
    now: datetime,
    deadline: timedelta,
) -> Decision:
    """The status a domain moves to after ``lookup`` (see the module's table)."""
    problem = reason_of(lookup, expected)
    if problem is None:
        return Decision(DomainStatus.ACTIVE, None, verified=True)
    if status is DomainStatus.ACTIVE:
        return Decision(DomainStatus.ACTIVE, None, verified=False, problem=problem)
    if status is DomainStatus.FAILED or now - created_at >= deadline:
        return Decision(DomainStatus.FAILED, problem, verified=False, problem=problem)
    return Decision(DomainStatus.PENDING_CNAME, problem, verified=False, problem=problem)
