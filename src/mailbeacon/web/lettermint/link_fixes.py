"""Fixing links after sending (mailbeacon's own Team API endpoints; service/link_fixes.py).

``PATCH /v1/messages/{id}/links/{link_index}`` points one link of a message at a new URL;
``PATCH /v1/links`` every link of the team's messages whose destination is a URL, within a
project, route, tag or period. Both answer once every change is stored; every serving
process redirects to the new URL within about a second. The changes are listed with the
message (``GET /v1/messages/{id}``, ``link_changes``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, StringConstraints
from sqlalchemy import Connection

from ...core.errors import NotFound
from ...core.lifecycle.destinations import MAX_URL
from ...service import link_fixes
from ...store import tenancy
from ...store.link_changes import LinkScope
from ..auth import team
from ..services import services_of
from .messages import moment
from .shapes import link_change_data

__all__ = ["changed_by", "router"]

router = APIRouter(tags=["Links after sending"])

Caller = Annotated[tenancy.Team, Depends(team)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL)]
Filter = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class FixLink(BaseModel):
    url: Url  # the new destination


class FixLinks(BaseModel):
    url: Url  # the destination to replace, exactly as stored (GET /v1/messages/{id}: links)
    new_url: Url
    project_id: Filter | None = None
    route_id: Filter | None = None
    tag: Filter | None = None
    from_date: Filter | None = None  # messages created from (a date or an ISO 8601 time)
    to_date: Filter | None = None


def changed_by(caller: tenancy.Team) -> str:
    """Who made a change, as the audit trail names them: the team token's team."""
    return f"team:{caller.public_id}"


@router.patch(
    "/messages/{message_id}/links/{link_index}",
    summary="Point a link of a sent message elsewhere",
)
def fix_link(
    request: Request,
    caller: Caller,
    message_id: str,
    link_index: Annotated[int, Path(ge=0, le=100_000)],
    body: FixLink,
) -> dict[str, Any]:
    services = services_of(request)
    change = link_fixes.fix_link(
        services.db,
        caller,
        message_id,
        link_index,
        body.url,
        changed_by(caller),
        services.clock.now(),
    )
    return {"data": link_change_data(change), "message": "Link updated."}


@router.patch("/links", summary="Point every link to a URL elsewhere, in sent messages")
def fix_links(request: Request, caller: Caller, body: FixLinks) -> dict[str, Any]:
    services = services_of(request)
    with services.db.read() as conn:
        scope = LinkScope(
            project_id=_project(conn, caller, body.project_id),
            route_id=_route(conn, caller, body.route_id),
            tag=body.tag,
            created_from=moment(body.from_date, "from_date", end_of_day=False),
            created_to=moment(body.to_date, "to_date", end_of_day=True),
        )
    fixed = link_fixes.fix_links(
        services.db,
        caller,
        body.url,
        body.new_url,
        scope,
        changed_by(caller),
        services.clock.now(),
    )
    return {
        "data": {"links_changed": fixed.links, "messages_changed": fixed.messages},
        "message": f"{fixed.links} links updated.",
    }


def _project(conn: Connection, caller: tenancy.Team, public_id: str | None) -> int | None:
    if public_id is None:
        return None
    project = tenancy.project_for_team(conn, caller.id, public_id)
    if project is None:
        raise NotFound("project")
    return project.id


def _route(conn: Connection, caller: tenancy.Team, public_id: str | None) -> int | None:
    if public_id is None:
        return None
    route = tenancy.route_for_team(conn, caller.id, public_id)
    if route is None:
        raise NotFound("route")
    return route.id
