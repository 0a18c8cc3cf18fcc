"""Tracking domains: add one, the CNAME record to create, its status and why, check now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ...core.errors import ApiError, NotFound
from ...service.domains import DomainPolicy, add_domain, check_domain
from ...store import tracking_domains as store
from ...store.accounts import SessionRow
from ..services import services_of
from .csrf import Checked
from .rendering import render
from .scope import chosen_project

__all__ = ["router"]

router = APIRouter()


def _page(request: Request, *, error: str = "", typed: str = "", status: int = 200) -> Response:
    viewer: SessionRow = request.state.viewer
    policy = DomainPolicy.from_settings(services_of(request).settings)
    with services_of(request).db.read() as conn:
        project, projects = chosen_project(conn, viewer, request.query_params.get("project"))
        found = store.list_domains(conn, project_id=project.id) if project else []
    rows = [
        {"domain": d, "record": f"{d.domain}. CNAME {policy.target_for(d.project_sid)}."}
        for d in found
    ]
    return render(
        request,
        "domains.html",
        status_code=status,
        page_name="domains",
        project=project,
        projects=projects,
        rows=rows,
        error=error,
        typed=typed,
        notice=request.query_params.get("notice", ""),
    )


@router.get("/domains")
def domain_list(request: Request) -> Response:
    return _page(request)


@router.post("/domains")
def domain_add(
    request: Request,
    viewer: Checked,
    project: Annotated[str, Form()] = "",
    domain: Annotated[str, Form()] = "",
) -> Response:
    services = services_of(request)
    with services.db.read() as conn:
        chosen, _ = chosen_project(conn, viewer, project or None)
    if chosen is None:
        raise NotFound("project")
    policy = DomainPolicy.from_settings(services.settings)
    try:
        add_domain(services.db, chosen, domain, policy, services.clock.now())
    except ApiError as exc:  # not a domain, or claimed already: say so on the form
        return _page(request, error=exc.message, typed=domain, status=exc.status)
    return RedirectResponse(
        f"/dashboard/domains?project={chosen.public_id}&notice=added", status_code=303
    )


@router.post("/domains/{domain_id}/verify")
def domain_verify(request: Request, domain_id: str, viewer: Checked) -> Response:
    services = services_of(request)
    with services.db.read() as conn:
        found = store.for_team(conn, viewer.user.team.id, domain_id)
    if found is None:
        raise NotFound("tracking domain")
    policy = DomainPolicy.from_settings(services.settings)
    checked_now = check_domain(services.db, services.cnames, found, policy, services.clock.now())
    if checked_now is not None and checked_now.status is not found.status:
        services.hosts.changed()
    return RedirectResponse(
        f"/dashboard/domains?project={found.project_public_id}&notice=checked", status_code=303
    )
