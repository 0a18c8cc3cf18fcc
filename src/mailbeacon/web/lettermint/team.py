"""Lettermint's Team API under /v1 (team token): projects and routes here, messages in
lettermint_messages.py, shapes in lettermint_shapes.py, bodies in lettermint_bodies.py.

Every lookup goes through the caller's team: another team's project or route is a 404, the
same answer as one that does not exist, so ids cannot be probed (DESIGN.md, invariant 6).

A team's projects and a project's routes are tens, not millions: their lists are read whole,
filtered and sorted in memory (every sort Lettermint offers), and paged by cursor there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from sqlalchemy import Connection

from ...core.errors import ApiError
from ...core.intake.policy import RouteType
from ...service import projects
from ...service.projects import RouteChanges
from ...store import queries, tenancy
from ..auth import team
from ..services import services_of
from . import erasures, link_fixes, shapes, suppressions, unsupported
from . import messages as lettermint_messages
from .bodies import (
    Paging,
    StoreProject,
    StoreRoute,
    UpdateProject,
    UpdateRoute,
    includes,
    ordered,
    paging,
    route_changes,
    window,
)

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Team API"])
router.include_router(lettermint_messages.router)
router.include_router(suppressions.router)
router.include_router(link_fixes.router)
router.include_router(erasures.router)
router.include_router(unsupported.router)

Caller = Annotated[tenancy.Team, Depends(team)]
Page = Annotated[Paging, Depends(paging)]

STATS_DAYS = 28
PROJECT_INCLUDES = (
    "routes",
    "routesCount",
    "routesExists",
    "domains",
    "domainsCount",
    "domainsExists",
    "messageStats",
)
ROUTE_INCLUDES = ("project", "projectCount", "projectExists")
_PROJECT_SORTS: dict[str, Callable[[tenancy.Project], Any]] = {
    "name": lambda p: p.name.lower(),
    "created_at": lambda p: p.created_at,
}
_ROUTE_SORTS: dict[str, Callable[[tenancy.Route], Any]] = {
    "name": lambda r: r.name.lower(),
    "slug": lambda r: r.slug,
    "created_at": lambda r: r.created_at,
}


# --- lookups -----------------------------------------------------------------------------------


def _project_of(conn: Connection, caller: tenancy.Team, project_id: str) -> tenancy.Project:
    project = tenancy.project_for_team(conn, caller.id, project_id)
    if project is None:
        raise ApiError(404, "No such project.")
    return project


def _route_of(conn: Connection, caller: tenancy.Team, route_id: str) -> tenancy.Route:
    route = tenancy.route_for_team(conn, caller.id, route_id)
    if route is None:
        raise ApiError(404, "No such route.")
    return route


# --- projects ---------------------------------------------------------------------------------


def _project_view(
    conn: Connection, project: tenancy.Project, include: set[str], now: datetime
) -> dict[str, Any]:
    default = (
        tenancy.route_by_id(conn, project.default_route_id)
        if project.default_route_id is not None
        else None
    )
    data = shapes.project_data(project, default.public_id if default else None)
    if include & {"routes", "routesCount", "routesExists"}:
        found = tenancy.list_routes(conn, project.id)
        if "routes" in include:
            data["routes"] = [shapes.route_data(r, project.public_id) for r in found]
        if "routesCount" in include:
            data["routes_count"] = len(found)
        if "routesExists" in include:
            data["routes_exists"] = bool(found)
    # Sending domains are the upstream's business: mailbeacon has none to show.
    if "domains" in include:
        data["domains"] = []
    if "domainsCount" in include:
        data["domains_count"] = 0
    if "domainsExists" in include:
        data["domains_exists"] = False
    if "messageStats" in include:
        since = now - timedelta(days=STATS_DAYS)
        stats = queries.message_stats(conn, [project.id], since)[project.id]
        data["last_28_days"] = shapes.stats_data(stats)
    return data


@router.get("/projects", summary="List the team's projects")
def list_projects(
    request: Request,
    caller: Caller,
    page: Page,
    sort: Annotated[str | None, Query()] = None,
    search: Annotated[str | None, Query(alias="filter[search]")] = None,
) -> dict[str, Any]:
    services = services_of(request)
    since = services.clock.now() - timedelta(days=STATS_DAYS)
    with services.db.read() as conn:
        found = tenancy.list_projects(conn, caller.id)
        if search:
            found = [p for p in found if search.lower() in p.name.lower()]
        found = ordered(found, sort, _PROJECT_SORTS, lambda p: p.id)
        part = window([p.public_id for p in found], page)
        shown = found[part.start : part.stop]
        counts = queries.route_counts(conn, [p.id for p in shown])
        stats = queries.message_stats(conn, [p.id for p in shown], since)
    data = [shapes.project_list_data(p, counts[p.id], stats[p.id]) for p in shown]
    return shapes.cursor_page(request, data, page.size, next_id=part.next_id, prev_id=part.prev_id)


@router.post("/projects", status_code=201, summary="Create a project")
def create_project(request: Request, caller: Caller, body: StoreProject) -> dict[str, Any]:
    """A project in the caller's team with its default route(s); its sending token is in
    ``api_token``, shown this once."""
    services = services_of(request)
    now = services.clock.now()
    options = projects.ProjectOptions(
        initial_routes=body.initial_routes or "transactional",
        smtp_enabled=True if body.smtp_enabled is None else body.smtp_enabled,
        redact_email_content=bool(body.redact_email_content),
        delivery_mode=body.delivery_mode or "live",
    )
    created = projects.create_project(services.db, body.name, now, team=caller, options=options)
    with services.db.read() as conn:
        data = _project_view(conn, created.project, {"routes", "routesCount"}, now)
    return {"data": data, "message": "Project created.", "api_token": created.sending_token}


@router.get("/projects/{project_id}", summary="Retrieve a project")
def retrieve_project(
    request: Request,
    caller: Caller,
    project_id: str,
    include: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    services = services_of(request)
    wanted = includes(include, PROJECT_INCLUDES)
    with services.db.read() as conn:
        project = _project_of(conn, caller, project_id)
        return _project_view(conn, project, wanted, services.clock.now())


@router.put("/projects/{project_id}", summary="Update a project")
def update_project(
    request: Request,
    caller: Caller,
    project_id: str,
    body: Annotated[UpdateProject | None, Body()] = None,
) -> dict[str, Any]:
    services = services_of(request)
    now = services.clock.now()
    body = body or UpdateProject()
    fresh = projects.update_project(
        services.db,
        caller,
        project_id,
        now,
        body.model_dump(exclude={"default_route_id"}, exclude_none=True),
        default_route_id=body.default_route_id,
    )
    with services.db.read() as conn:
        data = _project_view(conn, fresh, set(), now)
    return {"data": data, "message": "Project updated."}


@router.delete("/projects/{project_id}", summary="Delete a project and all its mail")
def delete_project(request: Request, caller: Caller, project_id: str) -> dict[str, Any]:
    services = services_of(request)
    projects.delete_project(services.db, caller, project_id, services.clock.now())
    return {"message": "Project deleted."}


@router.post("/projects/{project_id}/rotate-token", summary="Replace the project's sending token")
def rotate_token(request: Request, caller: Caller, project_id: str) -> dict[str, Any]:
    """Lettermint's RotateProjectTokenResponse: the project and its new token, shown once;
    mail sent with the old token is refused from now on (401)."""
    services = services_of(request)
    now = services.clock.now()
    fresh, token = projects.rotate_token(services.db, caller, project_id, now)
    with services.db.read() as conn:
        data = _project_view(conn, fresh, set(), now)
    return {"data": data, "new_token": token, "message": "Project token rotated."}


# --- routes -----------------------------------------------------------------------------------


@router.get("/projects/{project_id}/routes", summary="List a project's routes")
def list_routes(
    request: Request,
    caller: Caller,
    project_id: str,
    page: Page,
    sort: Annotated[str | None, Query()] = None,
    route_type: Annotated[str | None, Query(alias="filter[route_type]")] = None,
    is_default: Annotated[bool | None, Query(alias="filter[is_default]")] = None,
    search: Annotated[str | None, Query(alias="filter[search]")] = None,
) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        project = _project_of(conn, caller, project_id)
        found = tenancy.list_routes(conn, project.id)
    if route_type is not None:
        found = [r for r in found if r.route_type.value == route_type]
    if is_default is not None:
        found = [r for r in found if r.is_default == is_default]
    if search:
        needle = search.lower()
        found = [r for r in found if needle in r.name.lower() or needle in r.slug]
    found = ordered(found, sort, _ROUTE_SORTS, lambda r: r.id)
    part = window([r.public_id for r in found], page)
    data = [shapes.route_list_data(r) for r in found[part.start : part.stop]]
    return shapes.cursor_page(request, data, page.size, next_id=part.next_id, prev_id=part.prev_id)


@router.post("/projects/{project_id}/routes", status_code=201, summary="Create a route")
def create_route(
    request: Request, caller: Caller, project_id: str, body: StoreRoute
) -> dict[str, Any]:
    services = services_of(request)
    now = services.clock.now()
    route_type = RouteType(body.route_type)
    changes = route_changes(body, {}, inbound=route_type is RouteType.INBOUND)
    project, route = projects.create_route(
        services.db, caller, project_id, body.name, route_type, now, changes, slug=body.slug
    )
    return {"data": shapes.route_data(route, project.public_id), "message": "Route created."}


@router.get("/routes/{route_id}", summary="Retrieve a route")
def retrieve_route(
    request: Request,
    caller: Caller,
    route_id: str,
    include: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    services = services_of(request)
    wanted = includes(include, ROUTE_INCLUDES)
    with services.db.read() as conn:
        route = _route_of(conn, caller, route_id)
        project = tenancy.project_by_id(conn, route.project_id)
        assert project is not None
        data = shapes.route_data(route, project.public_id)
        if "project" in wanted:
            data["project"] = _project_view(conn, project, set(), services.clock.now())
    if "projectCount" in wanted:
        data["project_count"] = 1
    if "projectExists" in wanted:
        data["project_exists"] = True
    return data


@router.put("/routes/{route_id}", summary="Update a route", operation_id="updateRoute")
@router.patch("/routes/{route_id}", summary="Update a route", operation_id="patchRoute")
def update_route(
    request: Request,
    caller: Caller,
    route_id: str,
    body: Annotated[UpdateRoute | None, Body()] = None,
) -> dict[str, Any]:
    """PUT is what the SDK sends; PATCH is what Lettermint's docs show. Both change only the
    keys given."""
    services = services_of(request)
    now = services.clock.now()
    body = body or UpdateRoute()
    edit = body  # narrowed for the closure

    def changes(route: tenancy.Route) -> RouteChanges:
        # Settings merge into the route's current ones: worked out inside the transaction.
        return route_changes(edit, route.settings, inbound=route.route_type is RouteType.INBOUND)

    project, fresh = projects.update_route(
        services.db,
        caller,
        route_id,
        now,
        changes,
        name=body.name,
        slug=body.slug,
        route_type=body.route_type,
    )
    return {"data": shapes.route_data(fresh, project.public_id), "message": "Route updated."}


@router.delete("/routes/{route_id}", summary="Delete a route")
def delete_route(request: Request, caller: Caller, route_id: str) -> dict[str, Any]:
    projects.delete_route(services_of(request).db, caller, route_id)
    return {"message": "Route deleted."}
