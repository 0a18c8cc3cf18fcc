"""The domain worker: checks the CNAME of pending custom tracking domains.

A domain is due at once when added (so its first check follows within a second or so), then
every ``MAILBEACON_DOMAIN_RECHECK_SECONDS`` while pending; the check after the deadline
(``MAILBEACON_DOMAIN_VERIFY_DEADLINE_HOURS``) marks it failed with the reason. Active and
failed domains are not checked again here: an active domain's links must not break on a DNS
hiccup, and a failed one waits for its owner to ask (``POST .../verify``).

Lookups block (dnspython), so each runs in a thread, a few at once; the event loop only waits.
Several workers may share the queue (store/tracking_domains.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..clock import Clock
from ..core.hosts.domain_checks import DomainStatus
from ..service.cnames import CnameLookup
from ..service.domains import DomainPolicy, check_domain
from ..service.tracking_hosts import TrackingHosts
from ..store import tracking_domains as store
from ..store.db import Database
from . import pause

__all__ = ["DomainChecker", "domains_worker"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how soon a new domain gets its first check
BATCH = 16  # domains claimed per pass, all looked up at once


@dataclass(frozen=True, slots=True)
class DomainChecker:
    """What the checks use: the queue, DNS, the operator's rules and the hosts in memory."""

    db: Database
    clock: Clock
    cnames: CnameLookup
    hosts: TrackingHosts
    policy: DomainPolicy

    async def check_due(self, *, limit: int = BATCH) -> int:
        """One pass over the due pending domains; how many were checked."""
        policy, db = self.policy, self.db
        now = self.clock.now()

        def claim() -> list[store.TrackingDomain]:
            with db.write() as conn:
                return store.claim_due(
                    conn, now, now + policy.recheck, limit, skip_locked=not db.is_sqlite
                )

        batch = await asyncio.to_thread(claim)
        if not batch:
            return 0

        def check(domain: store.TrackingDomain) -> store.TrackingDomain | None:
            return check_domain(db, self.cnames, domain, policy, self.clock.now())

        checked = await asyncio.gather(*(asyncio.to_thread(check, d) for d in batch))
        if any(d is not None and d.status is DomainStatus.ACTIVE for d in checked):
            await asyncio.to_thread(self.hosts.changed)  # new links use it from now on
        return len(batch)


async def domains_worker(checker: DomainChecker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await checker.check_due()
        except Exception:
            log.exception("domain check pass failed; retrying")
            done = 0
        if done < BATCH:
            await pause(stop, POLL_SECONDS)
