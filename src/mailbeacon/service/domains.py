"""Custom tracking domains as use cases: add one, check one, shared by the Team API, the
command line and the domain worker.

Adding validates the name (core/hosts/hostnames.py) and claims it; checking looks the CNAME up
(service/cnames.py, blocking: run it in a thread), lets core/hosts/domain_checks.py decide, and
stores the outcome. A check stores its outcome only if the domain's status is still the one it
judged: a slow check that saw ``pending_cname`` must not undo an activation made meanwhile.

With a tracking base domain, a domain's CNAME target is its own project's default host
``p{sid}.{base}`` (:meth:`DomainPolicy.target_for`), so the record says which project the name
is for: a record that points at one project's host verifies the domain for that project only.
A target shared by all projects (MAILBEACON_TRACKING_CNAME_TARGET, or the public URL's host
without a base domain) proves only that the name points at this mailbeacon: any project could
claim a name whose record already exists (made before its owner adds it, or left after they
delete it) and have its links served there.

Errors (core/errors.py) carry the HTTP status the API answers and the message the CLI prints::

    DomainError (422)         the name cannot be a custom tracking domain
    └── DomainClaimed (409)   it is a tracking domain already, of this project or another
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from ..core.errors import DomainClaimed, DomainError, InvalidHostname, NotFound
from ..core.hosts.domain_checks import DomainStatus, decide
from ..core.hosts.hostnames import check_custom_domain
from ..core.hosts.tracking_hosts import default_host
from ..core.instrumentation.linkrules import host_of
from ..store import tenancy
from ..store import tracking_domains as store
from ..store.db import Database
from .cnames import CnameLookup

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["DomainPolicy", "add_domain", "check_domain", "delete_domain"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DomainPolicy:
    """The operator's rules for custom tracking domains, from the settings."""

    shared_target: str | None  # one CNAME target for all projects; None: per project
    base_domain: str | None = None
    reserved: frozenset[str] = frozenset()  # mailbeacon's own hosts
    deadline: timedelta = timedelta(hours=72)
    recheck: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.shared_target is None and self.base_domain is None:
            raise ValueError("a DomainPolicy needs a shared_target or a base_domain")

    @classmethod
    def from_settings(cls, settings: Settings) -> DomainPolicy:
        public_host = host_of(settings.public_url)
        return cls(
            shared_target=settings.tracking_cname_target,
            base_domain=settings.tracking_base_domain,
            reserved=frozenset(
                h for h in (public_host, settings.tracking_cname_target) if h is not None
            ),
            deadline=timedelta(hours=settings.domain_verify_deadline_hours),
            recheck=timedelta(seconds=settings.domain_recheck_seconds),
        )

    def target_for(self, sid: str) -> str:
        """The host a domain of project ``sid`` must point its CNAME at."""
        if self.shared_target is not None:
            return self.shared_target
        assert self.base_domain is not None  # __post_init__
        return default_host(sid, self.base_domain)


def add_domain(
    db: Database, project: tenancy.Project, text: str, policy: DomainPolicy, now: datetime
) -> store.TrackingDomain:
    """Claim ``text`` for ``project``: pending until its CNAME points at the project's
    target (:meth:`DomainPolicy.target_for`)."""
    try:
        name = check_custom_domain(text, base_domain=policy.base_domain, reserved=policy.reserved)
    except InvalidHostname as exc:
        raise DomainError(str(exc), domain=text) from None
    try:
        with db.write() as conn:
            existing = store.by_domain(conn, name)
            if existing is not None:
                raise _claimed(name, mine=existing.project_id == project.id)
            return store.insert(conn, project.id, name, now)
    except IntegrityError:  # added by someone else between the check and the insert
        raise _claimed(name, mine=False) from None


def delete_domain(db: Database, team: tenancy.Team, domain_id: str) -> store.TrackingDomain:
    """Delete the team's domain (:class:`NotFound` if it has none by that id); the domain as
    it was. Links sent on it stop working: the caller tells the tracking hosts if it was
    active. The name is free to be added again."""
    with db.write() as conn:
        found = store.for_team(conn, team.id, domain_id)
        if found is None:
            raise NotFound("tracking domain")
        store.delete(conn, found.id)
    return found


def _claimed(name: str, *, mine: bool) -> DomainClaimed:
    if mine:
        return DomainClaimed(f"{name} is a tracking domain of this project already.", domain=name)
    return DomainClaimed(f"{name} is claimed by another project.", domain=name)


def check_domain(
    db: Database,
    cnames: CnameLookup,
    domain: store.TrackingDomain,
    policy: DomainPolicy,
    now: datetime,
) -> store.TrackingDomain | None:
    """Look the CNAME up now and store what follows; the domain as it is afterwards (None
    if it was deleted meanwhile). Blocks for up to the DNS timeout."""
    found = cnames.lookup(domain.domain)
    decision = decide(
        domain.status,
        found,
        expected=policy.target_for(domain.project_sid),
        created_at=domain.created_at,
        now=now,
        deadline=policy.deadline,
    )
    if domain.status is DomainStatus.ACTIVE and decision.problem:
        # Links already sent use this domain: a DNS hiccup must not break them.
        log.warning("tracking domain %s stays active, but: %s", domain.domain, decision.problem)
    elif decision.status is not domain.status:
        log.info(
            "tracking domain %s: %s -> %s%s",
            domain.domain,
            domain.status.value,
            decision.status.value,
            f" ({decision.reason})" if decision.reason else "",
        )
    with db.write() as conn:
        return store.record_check(
            conn,
            domain.id,
            now,
            judged=domain.status,
            status=decision.status,
            reason=decision.reason,
            verified=decision.verified,
            next_check=now + policy.recheck,
        )
