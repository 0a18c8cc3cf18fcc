"""What one CNAME lookup means for a custom tracking domain's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.core.hosts.domain_checks import (
    CnameFound,
    Decision,
    DomainStatus,
    Lookup,
    LookupFailed,
    NoCname,
    decide,
)

TARGET = "custom.t.mailbeacon.test"
ADDED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEADLINE = timedelta(hours=72)
PENDING, ACTIVE, FAILED = DomainStatus.PENDING_CNAME, DomainStatus.ACTIVE, DomainStatus.FAILED
WRONG = "CNAME points to elsewhere.example, expected custom.t.mailbeacon.test"


def judge(status: DomainStatus, found: Lookup, hours: float = 1) -> Decision:
    now = ADDED + timedelta(hours=hours)
    return decide(status, found, expected=TARGET, created_at=ADDED, now=now, deadline=DEADLINE)


@pytest.mark.parametrize(
    ("status", "found", "hours", "then", "reason"),
    [
        (PENDING, CnameFound(TARGET), 1, ACTIVE, None),
        (PENDING, CnameFound(TARGET), 100, ACTIVE, None),  # late is still fine
        (PENDING, CnameFound("elsewhere.example"), 1, PENDING, WRONG),
        (PENDING, NoCname("NXDOMAIN"), 1, PENDING, "no CNAME record found"),
        (PENDING, NoCname("no answer"), 71.9, PENDING, "no CNAME record found"),
        (PENDING, NoCname("no answer"), 72, FAILED, "no CNAME record found"),
        (PENDING, CnameFound("elsewhere.example"), 80, FAILED, WRONG),
        (PENDING, LookupFailed("SERVFAIL from 10.0.0.53"), 1, PENDING,
         "DNS lookup failed: SERVFAIL from 10.0.0.53"),
        (FAILED, CnameFound(TARGET), 200, ACTIVE, None),  # fixed, then asked for
        (FAILED, NoCname("NXDOMAIN"), 1, FAILED, "no CNAME record found"),
        (ACTIVE, NoCname("NXDOMAIN"), 500, ACTIVE, None),  # links sent must not break
        (ACTIVE, CnameFound("elsewhere.example"), 1, ACTIVE, None),
    ],
)  # fmt: skip
def test_the_status_follows_the_table(
    status: DomainStatus, found: Lookup, hours: float, then: DomainStatus, reason: str | None
) -> None:
    decision = judge(status, found, hours)
    assert (decision.status, decision.reason) == (then, reason)
    assert decision.verified == (found == CnameFound(TARGET))


def test_an_active_domain_keeps_the_problem_for_the_log() -> None:
    assert judge(ACTIVE, NoCname("NXDOMAIN")).problem == "no CNAME record found"
    assert judge(ACTIVE, CnameFound(TARGET)).problem is None
