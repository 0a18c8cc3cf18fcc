"""Routes: Track opens, Track clicks and the honeypot link per route, one click to save
(Lettermint's "Routes → toggle Track clicks → Save"). Inbound routes receive mail and track
nothing, so they show no toggles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ...core.errors import NotFound
from ...service import projects as project_service
from ...store import tenancy
from ...store.accounts import SessionRow
from ..services import services_of
from .csrf import Checked
from .rendering import render
from .scope import chosen_project

__all__ = ["router"]

router = APIRouter()


@router.get("/routes")
def route_list(request: Request) -> Response:
    viewer: SessionRow = request.state.viewer
    with services_of(request).db.read() as conn:
        project, projects = chosen_project(conn, viewer, request.query_params.get("project"))
        found = tenancy.list_routes(conn, project.id) if project else []
    rows = [
        {
            "route": route,
            "inbound": route.route_type.value == "inbound",
            "honeypot": bool(route.settings.get("honeypot_link", True)),
        }
        for route in found
    ]
    return render(
        request,
        "routes.html",
        page_name="routes",
        project=project,
        projects=projects,
        rows=rows,
        saved=request.query_params.get("saved", ""),
    )


@router.post("/routes/{route_id}")
def save_route(
    request: Request,
    route_id: str,
    viewer: Checked,
    track_opens: Annotated[str, Form()] = "",
    track_clicks: Annotated[str, Form()] = "",
    honeypot_link: Annotated[str, Form()] = "",
) -> Response:
    """An unchecked box is absent from the form: absent means off."""
    services = services_of(request)
    with services.db.read() as conn:
        route = tenancy.route_for_team(conn, viewer.user.team.id, route_id)
    if route is None:
        raise NotFound("route")
    inbound = route.route_type.value == "inbound"

    def changes(current: tenancy.Route) -> project_service.RouteChanges:
        settings = {**current.settings, "honeypot_link": honeypot_link == "on"}
        if inbound:  # nothing to track: leave the columns as they are
            return project_service.RouteChanges(None, None, current.settings)
        return project_service.RouteChanges(track_opens == "on", track_clicks == "on", settings)

    project, saved = project_service.update_route(
        services.db, viewer.user.team, route_id, services.clock.now(), changes
    )
    return RedirectResponse(
        f"/dashboard/routes?project={project.public_id}&saved={saved.slug}", status_code=303
    )
