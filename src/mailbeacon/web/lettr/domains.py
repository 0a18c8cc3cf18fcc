"""Lettr's domains under /api, as custom tracking domains ("Set Up Tracking Domain").

Lettr's ``/domains`` are sending domains; mailbeacon has none (it sends whatever the request's
``from`` says, through its upstream), but it has what Lettr's tracking domain is: a subdomain
the customer points at mailbeacon with a CNAME, so that tracked links carry their own name. So
these calls manage the key's project's tracking domains, through the same use cases as the
Team API's ``/v1/tracking-domains`` (service/domains.py): the name is checked and claimed, the
CNAME is looked up on ``verify`` (and by the domain worker), and an active domain serves the
project's new links at once. A domain of another project is a 404, as is an unknown one; one
claimed by any project is a 409.

What each field of Lettr's Domain and DomainVerification holds:

======================  ==========================================================================
field                   answer
======================  ==========================================================================
status, status_label    ``pending`` while the CNAME is not seen (``failed``, past the deadline,
                        is ``pending`` too, labelled with why), ``approved`` once active
cname_status            ``unverified`` (pending), ``invalid`` (failed), ``valid`` (active)
dns                     ``{"cname": {"type", "name", "value"}}``: the record to create, with
                        ``dkim`` null
dns (verify)            ``cname_error``: why the domain is not active yet; the other fields null
tracking_domain         the domain itself: it is the tracking domain
ownership_verified      ``"true"`` once the CNAME points at the project's host (which names the
                        project: service/domains.py), else ``"false"``
can_send                false: nothing is sent from a tracking domain
is_primary_domain       false: a tracking domain is always a subdomain
dkim_status, spf_status, dmarc_status
                        null on a domain, ``not_applicable`` in a verification (where the SDK
                        requires a string): they describe how mail from a sending domain is
                        authenticated, and a tracker neither sends from it nor checks them
dkim, dns_provider      null: no DKIM key is made, no DNS provider is detected
======================  ==========================================================================
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, StringConstraints
from sqlalchemy import Connection

from ...core.errors import ApiError, DomainError, InvalidHostname
from ...core.hosts.domain_checks import DomainStatus
from ...core.hosts.hostnames import normalise_domain
from ...service import domains
from ...service.domains import DomainPolicy
from ...store import tenancy
from ...store import tracking_domains as store
from ..auth import sending_project
from ..services import services_of
from .shapes import timestamp

__all__ = ["domain_view", "router", "verification_view"]

router = APIRouter(tags=["Lettr API: domains"])

Project = Annotated[tenancy.Project, Depends(sending_project)]
DomainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]

_STATUSES = {  # mailbeacon's status: Lettr's status, its label, cname_status
    DomainStatus.PENDING_CNAME: ("pending", "Pending CNAME record", "unverified"),
    DomainStatus.FAILED: ("pending", "Verification failed", "invalid"),
    DomainStatus.ACTIVE: ("approved", "Approved", "valid"),
}
_NOT_APPLICABLE = "not_applicable"


class StoreDomain(BaseModel):
    domain: DomainText


def domain_view(domain: store.TrackingDomain, policy: DomainPolicy) -> dict[str, Any]:
    """Lettr's Domain (``DomainDetailView``; the list's items are the same, keys to spare)."""
    status, label, cname_status = _STATUSES[domain.status]
    if domain.status is not DomainStatus.ACTIVE and domain.status_reason:
        label = f"{label}: {domain.status_reason}"
    changed = [m for m in (domain.verified_at, domain.last_checked_at) if m is not None]
    record = {
        "type": "CNAME",
        "name": domain.domain,
        "value": policy.target_for(domain.project_sid),
    }
    return {
        "domain": domain.domain,
        "status": status,
        "status_label": label,
        "can_send": False,
        "cname_status": cname_status,
        "dkim_status": None,
        "dmarc_status": None,
        "spf_status": None,
        "is_primary_domain": False,
        "tracking_domain": domain.domain,
        "dns": {"cname": record, "dkim": None},
        "dns_provider": None,
        "dkim": None,
        "created_at": timestamp(domain.created_at),
        "updated_at": timestamp(max([domain.created_at, *changed])),
    }


def verification_view(domain: store.TrackingDomain) -> dict[str, Any]:
    """Lettr's DomainVerification after a CNAME lookup."""
    active = domain.status is DomainStatus.ACTIVE
    return {
        "domain": domain.domain,
        "cname_status": _STATUSES[domain.status][2],
        "dkim_status": _NOT_APPLICABLE,
        "dmarc_status": _NOT_APPLICABLE,
        "spf_status": _NOT_APPLICABLE,
        "is_primary_domain": False,
        "ownership_verified": "true" if active else "false",
        "dns": {
            "cname_record": None,
            "cname_error": None if active else domain.status_reason,
            "dkim_record": None,
            "dkim_error": None,
            "dmarc_record": None,
            "dmarc_error": None,
            "spf_record": None,
            "spf_error": None,
        },
        "dmarc": None,
        "spf": None,
    }


def _policy(request: Request) -> DomainPolicy:
    return DomainPolicy.from_settings(services_of(request).settings)


def _domain_of(conn: Connection, project: tenancy.Project, name: str) -> store.TrackingDomain:
    """The project's domain by its name (as stored: lower case, A-labels)."""
    try:
        normalised = normalise_domain(name)
    except InvalidHostname as exc:
        raise DomainError(str(exc), domain=name) from None
    found = store.by_domain(conn, normalised)
    if found is None or found.project_id != project.id:
        raise ApiError(404, "Domain not found.")
    return found


@router.get("/domains", summary="List the project's tracking domains")
def list_domains(request: Request, project: Project) -> dict[str, Any]:
    """Oldest first; a project's tracking domains are few."""
    policy = _policy(request)
    with services_of(request).db.read() as conn:
        found = store.list_domains(conn, project_id=project.id)
    data = {"domains": [domain_view(domain, policy) for domain in found]}
    return {"message": "Domains retrieved successfully.", "data": data}


@router.post("/domains", status_code=201, summary="Add a tracking domain")
def create_domain(request: Request, project: Project, body: StoreDomain) -> dict[str, Any]:
    """Pending until the CNAME in ``dns.cname`` is seen (a 422 on ``domain`` for a name that
    cannot be one, a 409 when any project has it already)."""
    services = services_of(request)
    policy = _policy(request)
    added = domains.add_domain(services.db, project, body.domain, policy, services.clock.now())
    return {"message": "Domain created successfully.", "data": domain_view(added, policy)}


@router.get("/domains/{domain}", summary="Get a tracking domain")
def get_domain(request: Request, project: Project, domain: str) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        found = _domain_of(conn, project, domain)
    return {
        "message": "Domain retrieved successfully.",
        "data": domain_view(found, _policy(request)),
    }


@router.delete("/domains/{domain}", status_code=204, summary="Delete a tracking domain")
def delete_domain(request: Request, project: Project, domain: str) -> Response:
    """Links sent on the domain stop working; new links use the project's default host."""
    services = services_of(request)
    with services.db.read() as conn:
        found = _domain_of(conn, project, domain)
        team = tenancy.team_by_id(conn, project.team_id)
    assert team is not None  # a project's team is deleted with it
    deleted = domains.delete_domain(services.db, team, found.public_id)
    if deleted.status is DomainStatus.ACTIVE:
        services.hosts.changed()
    return Response(status_code=204)


@router.post("/domains/{domain}/verify", summary="Look the CNAME record up now")
def verify_domain(request: Request, project: Project, domain: str) -> dict[str, Any]:
    """The lookup blocks this worker thread (never the event loop) for up to the DNS
    timeout; the answer is the domain as it is afterwards."""
    services = services_of(request)
    with services.db.read() as conn:
        found = _domain_of(conn, project, domain)
    checked = domains.check_domain(
        services.db, services.cnames, found, _policy(request), services.clock.now()
    )
    if checked is None:  # deleted meanwhile
        raise ApiError(404, "Domain not found.")
    if checked.status is not found.status:
        services.hosts.changed()
    return {"message": "Domain verification completed.", "data": verification_view(checked)}
