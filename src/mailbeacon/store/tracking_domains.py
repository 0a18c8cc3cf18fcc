"""Custom tracking domains: claimed by a project, checked by the domain worker.

A domain is claimed once across every project (a unique index, so two projects adding it at
the same moment get one row and one conflict). Queries that take a public id also take the
caller's team id, as everywhere: another team's domain is not found (DESIGN.md, invariant 6).

The worker's queue is the domains still ``pending_cname`` whose ``next_check_at`` has come:
claiming one moves ``next_check_at`` on by the recheck interval, which doubles as its lease
(on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several workers share the queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, select, update

from ..core.hosts.domain_checks import DomainStatus
from .ids import new_id
from .schema import projects, tracking_domains

__all__ = [
    "ActiveDomain",
    "TrackingDomain",
    "active_domains",
    "by_domain",
    "by_public_id",
    "claim_due",
    "delete",
    "for_team",
    "insert",
    "list_domains",
    "project_sids",
    "record_check",
]


@dataclass(frozen=True, slots=True)
class TrackingDomain:
    id: int
    public_id: str
    project_id: int
    project_public_id: str
    project_sid: str
    domain: str
    status: DomainStatus
    status_reason: str | None
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    next_check_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActiveDomain:
    domain: str
    project_id: int
    sid: str
    verified_at: datetime | None


def _select() -> Select[Any]:
    return select(
        tracking_domains, projects.c.public_id.label("project_public_id"), projects.c.sid
    ).join(projects, projects.c.id == tracking_domains.c.project_id)


def _record(row: Row[Any]) -> TrackingDomain:
    return TrackingDomain(
        id=row.id,
        public_id=row.public_id,
        project_id=row.project_id,
        project_public_id=row.project_public_id,
        project_sid=row.sid,
        domain=row.domain,
        status=DomainStatus(row.status),
        status_reason=row.status_reason,
        created_at=row.created_at,
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        next_check_at=row.next_check_at,
    )


def insert(conn: Connection, project_id: int, domain: str, now: datetime) -> TrackingDomain:
    """A new pending domain, due for its first check at once. Raises IntegrityError when the
    domain is claimed already (the caller checks first; this is the race's referee)."""
    domain_id = conn.execute(
        tracking_domains.insert()
        .values(
            public_id=new_id(),
            project_id=project_id,
            domain=domain,
            status=DomainStatus.PENDING_CNAME.value,
            created_at=now,
            next_check_at=now,
        )
        .returning(tracking_domains.c.id)
    ).scalar_one()
    found = _by_id(conn, domain_id)
    assert found is not None
    return found


def _by_id(conn: Connection, domain_id: int) -> TrackingDomain | None:
    row = conn.execute(_select().where(tracking_domains.c.id == domain_id)).first()
    return _record(row) if row else None


def by_domain(conn: Connection, domain: str) -> TrackingDomain | None:
    row = conn.execute(_select().where(tracking_domains.c.domain == domain)).first()
    return _record(row) if row else None


def by_public_id(conn: Connection, public_id: str) -> TrackingDomain | None:
    """Any team's domain: for the operator's command line, never for an API caller."""
    row = conn.execute(_select().where(tracking_domains.c.public_id == public_id)).first()
    return _record(row) if row else None


def for_team(conn: Connection, team_id: int, public_id: str) -> TrackingDomain | None:
    row = conn.execute(
        _select().where(projects.c.team_id == team_id, tracking_domains.c.public_id == public_id)
    ).first()
    return _record(row) if row else None


def list_domains(
    conn: Connection, *, team_id: int | None = None, project_id: int | None = None
) -> list[TrackingDomain]:
    """Domains in the order they were added, of one team or project (or all: the CLI)."""
    query = _select().order_by(tracking_domains.c.id)
    if team_id is not None:
        query = query.where(projects.c.team_id == team_id)
    if project_id is not None:
        query = query.where(tracking_domains.c.project_id == project_id)
    return [_record(row) for row in conn.execute(query)]


def delete(conn: Connection, domain_id: int) -> None:
    conn.execute(tracking_domains.delete().where(tracking_domains.c.id == domain_id))


def claim_due(
    conn: Connection, now: datetime, next_check: datetime, limit: int, *, skip_locked: bool
) -> list[TrackingDomain]:
    """Up to ``limit`` pending domains whose check is due, their next check moved to
    ``next_check`` (the lease: a worker that dies leaves them due again then)."""
    query = (
        select(tracking_domains.c.id)
        .where(
            tracking_domains.c.status == DomainStatus.PENDING_CNAME.value,
            tracking_domains.c.next_check_at <= now,
        )
        .order_by(tracking_domains.c.next_check_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    ids = [row.id for row in conn.execute(query)]
    if not ids:
        return []
    conn.execute(
        update(tracking_domains)
        .where(tracking_domains.c.id.in_(ids))
        .values(next_check_at=next_check)
    )
    rows = conn.execute(_select().where(tracking_domains.c.id.in_(ids)))
    return sorted((_record(row) for row in rows), key=lambda d: d.id)


def record_check(
    conn: Connection,
    domain_id: int,
    now: datetime,
    *,
    judged: DomainStatus,
    status: DomainStatus,
    reason: str | None,
    verified: bool,
    next_check: datetime | None,
) -> TrackingDomain | None:
    """Store a check's outcome, unless the domain's status is no longer ``judged`` (another
    check moved it meanwhile: that one stands). The domain as it is now (None if deleted)."""
    values: dict[str, Any] = {
        "status": status.value,
        "status_reason": reason,
        "last_checked_at": now,
        "next_check_at": next_check if status is DomainStatus.PENDING_CNAME else None,
    }
    if verified and judged is not DomainStatus.ACTIVE:
        values["verified_at"] = now  # when it became active; later checks leave it
    conn.execute(
        update(tracking_domains)
        .where(tracking_domains.c.id == domain_id, tracking_domains.c.status == judged.value)
        .values(**values)
    )
    return _by_id(conn, domain_id)


def active_domains(conn: Connection) -> list[ActiveDomain]:
    rows = conn.execute(
        select(
            tracking_domains.c.domain,
            tracking_domains.c.project_id,
            projects.c.sid,
            tracking_domains.c.verified_at,
        )
        .join(projects, projects.c.id == tracking_domains.c.project_id)
        .where(tracking_domains.c.status == DomainStatus.ACTIVE.value)
        .order_by(tracking_domains.c.id)
    )
    return [ActiveDomain(r.domain, r.project_id, r.sid, r.verified_at) for r in rows]


def project_sids(conn: Connection) -> list[str]:
    return list(conn.execute(select(projects.c.sid)).scalars())
