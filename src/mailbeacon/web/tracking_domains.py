"""Custom tracking domains under /v1 (team token), and Caddy's on-demand TLS ``ask``.

A project adds a subdomain of its own (``track.example.com``); the answer names the CNAME
record to create (``dns_records``): with a tracking base domain, it points at the project's own
default host ``p{sid}.{base}``, which proves the name is meant for this project
(service/domains.py). The domain is ``pending_cname`` until the record is seen pointing at its
target (the domain worker looks on creation and every few minutes;
``POST /tracking-domains/{id}/verify`` looks now), then ``active``: the project's new links
use it. ``failed`` says why, once the deadline has passed. Statuses and reasons are
core/hosts/domain_checks.py's.

Every lookup goes through the caller's team: another team's domain is a 404, as is one that
does not exist (DESIGN.md, invariant 6). A domain claimed by any project is a 409.

``GET /tls/ask?domain=<name>`` answers Caddy (deploy/Caddyfile) before it obtains a
certificate: 200 for the public host, a project's default host and an active custom domain,
404 for anything else, from memory (service/tracking_hosts.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, StringConstraints
from sqlalchemy import Connection

from ..core.errors import ApiError
from ..core.hosts.domain_checks import DomainStatus
from ..service import domains
from ..service.domains import DomainPolicy, add_domain, check_domain
from ..store import tenancy
from ..store import tracking_domains as store
from .auth import team
from .lettermint import shapes
from .lettermint.bodies import Paging, paging, window
from .services import services_of

__all__ = ["dns_record", "domain_data", "router", "tls_router"]

router = APIRouter(tags=["Tracking domains"])
tls_router = APIRouter(tags=["TLS"])

Caller = Annotated[tenancy.Team, Depends(team)]
Page = Annotated[Paging, Depends(paging)]
DomainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]

_MESSAGES = {
    DomainStatus.ACTIVE: "The CNAME record is in place: the domain is active.",
    DomainStatus.PENDING_CNAME: "Not verified yet: create the CNAME record in dns_records.",
    DomainStatus.FAILED: "Verification failed: see status_reason, fix the record and verify.",
}


class StoreTrackingDomain(BaseModel):
    domain: DomainText
    project_id: str | None = None  # may be left out when the team has one project


def domain_data(domain: store.TrackingDomain, policy: DomainPolicy) -> dict[str, Any]:
    target = policy.target_for(domain.project_sid)
    return {
        "id": domain.public_id,
        "project_id": domain.project_public_id,
        "domain": domain.domain,
        "status": domain.status.value,
        "status_reason": domain.status_reason,
        "dns_records": [{"type": "CNAME", "name": domain.domain, "value": target}],
        "created_at": shapes.iso(domain.created_at),
        "verified_at": shapes.iso(domain.verified_at),
        "last_checked_at": shapes.iso(domain.last_checked_at),
    }


def dns_record(domain: store.TrackingDomain, policy: DomainPolicy) -> str:
    """The record to create, as a zone file line."""
    return f"{domain.domain}. CNAME {policy.target_for(domain.project_sid)}."


def _policy(request: Request) -> DomainPolicy:
    return DomainPolicy.from_settings(services_of(request).settings)


def _domain_of(conn: Connection, caller: tenancy.Team, domain_id: str) -> store.TrackingDomain:
    found = store.for_team(conn, caller.id, domain_id)
    if found is None:
        raise ApiError(404, "No such tracking domain.")
    return found


def _project(conn: Connection, caller: tenancy.Team, project_id: str | None) -> tenancy.Project:
    """The project named, which must be the caller's; or the team's only project."""
    if project_id is not None:
        project = tenancy.project_for_team(conn, caller.id, project_id)
        if project is None:
            message = "No such project in this team."
            raise ApiError(422, message, errors={"project_id": [message]})
        return project
    projects = tenancy.list_projects(conn, caller.id)
    if len(projects) != 1:
        message = f"Name the project: this team has {len(projects)} projects."
        raise ApiError(422, message, errors={"project_id": [message]})
    return projects[0]


@router.get("/tracking-domains", summary="List the team's custom tracking domains")
def list_domains(
    request: Request,
    caller: Caller,
    page: Page,
    project_id: Annotated[str | None, Query(alias="filter[project_id]")] = None,
) -> dict[str, Any]:
    """Oldest first. A team's domains are few: read whole and paged here by cursor."""
    services = services_of(request)
    with services.db.read() as conn:
        found = store.list_domains(conn, team_id=caller.id)
    if project_id is not None:
        found = [d for d in found if d.project_public_id == project_id]
    part = window([d.public_id for d in found], page)
    policy = _policy(request)
    data = [domain_data(d, policy) for d in found[part.start : part.stop]]
    return shapes.cursor_page(request, data, page.size, next_id=part.next_id, prev_id=part.prev_id)


@router.post("/tracking-domains", status_code=201, summary="Add a custom tracking domain")
def create_domain(request: Request, caller: Caller, body: StoreTrackingDomain) -> dict[str, Any]:
    """The domain, ``pending_cname``, with the CNAME record to create in ``dns_records``."""
    services = services_of(request)
    policy = _policy(request)
    with services.db.read() as conn:
        project = _project(conn, caller, body.project_id)
    # A DomainError is the answer itself: 422 on "domain", or 409 when claimed.
    added = add_domain(services.db, project, body.domain, policy, services.clock.now())
    record = dns_record(added, policy)
    return {
        "data": domain_data(added, policy),
        "message": f"Create the DNS record {record}; the domain is checked within minutes.",
    }


@router.get("/tracking-domains/{domain_id}", summary="Retrieve a custom tracking domain")
def retrieve_domain(request: Request, caller: Caller, domain_id: str) -> dict[str, Any]:
    services = services_of(request)
    with services.db.read() as conn:
        found = _domain_of(conn, caller, domain_id)
    return domain_data(found, _policy(request))


@router.delete("/tracking-domains/{domain_id}", summary="Delete a custom tracking domain")
def delete_domain(request: Request, caller: Caller, domain_id: str) -> dict[str, Any]:
    """Links sent on the domain stop working; the project's new links use its default host
    (or the public URL). The name is free to be added again."""
    services = services_of(request)
    found = domains.delete_domain(services.db, caller, domain_id)
    if found.status is DomainStatus.ACTIVE:
        services.hosts.changed()
    return {"message": "Tracking domain deleted."}


@router.post("/tracking-domains/{domain_id}/verify", summary="Check the CNAME record now")
def verify_domain(request: Request, caller: Caller, domain_id: str) -> dict[str, Any]:
    """Looks the CNAME up now (this endpoint runs in a worker thread: the lookup blocks it,
    never the event loop) and answers the domain as it is afterwards."""
    services = services_of(request)
    policy = _policy(request)
    with services.db.read() as conn:
        found = _domain_of(conn, caller, domain_id)
    checked = check_domain(services.db, services.cnames, found, policy, services.clock.now())
    if checked is None:
        raise ApiError(404, "No such tracking domain.")
    if checked.status is not found.status:
        services.hosts.changed()
    return {
        "data": domain_data(checked, policy),
        "message": _MESSAGES[checked.status],
    }


@tls_router.get("/tls/ask", summary="Caddy's on-demand TLS: may a certificate be obtained?")
async def ask(request: Request, domain: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """200 for the public host, a project's default host and an active custom domain; 404
    otherwise, so that nobody can make Caddy ask the CA for names that are not ours."""
    if not domain or not domain.strip():
        raise ApiError(400, "Name the host: /tls/ask?domain=<host name>.")
    if not await services_of(request).hosts.serves(domain):
        raise ApiError(404, f"{domain} is not a tracking host of this mailbeacon.")
    return {"domain": domain, "message": "A certificate may be obtained for this host."}
