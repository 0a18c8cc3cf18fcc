"""Projects and their routes as use cases: what the Team API and the command line change.

Each function is one transaction. Lookups take the caller's team, so another team's project
or route is a :class:`NotFound`, like one that does not exist (DESIGN.md, invariant 6). Rules
about routes live here, whoever asks: a slug is unique in its project and never changes, a
route's type never changes, the default route is a sending route and cannot be deleted.
Refusals are :class:`Refused` with the fields they concern (the API's 422 ``errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ..core.errors import NotFound, Refused
from ..core.intake.policy import RouteType
from ..store import project_purge, tenancy
from ..store.db import Database

__all__ = [
    "CreatedProject",
    "ProjectOptions",
    "RouteChanges",
    "create_project",
    "create_route",
    "delete_project",
    "delete_route",
    "rotate_token",
    "update_project",
    "update_route",
]


@dataclass(frozen=True, slots=True)
class ProjectOptions:
    """A new project's settings; the defaults are what both the API and the CLI give."""

    initial_routes: str = "transactional"
    smtp_enabled: bool = True
    redact_email_content: bool = False
    delivery_mode: str = "live"


@dataclass(frozen=True, slots=True)
class CreatedProject:
    project: tenancy.Project
    team: tenancy.Team
    sending_token: str  # shown once
    team_token: str | None = None  # a new team's token (shown once); None: an existing team


def create_project(
    db: Database,
    name: str,
    now: datetime,
    *,
    team: tenancy.Team | None = None,
    team_token: str | None = None,
    options: ProjectOptions = ProjectOptions(),
) -> CreatedProject:
    """A project with its default route(s), in ``team``, or in the team of ``team_token``,
    or (neither given: the command line's first project) in a new team of the same name,
    created in the same transaction."""
    with db.write() as conn:
        new_team_token = None
        if team is None and team_token:
            team = tenancy.team_by_token(conn, team_token)
            if team is None:
                raise Refused("no team has that team token", status=404)
        elif team is None:
            team, new_team_token = tenancy.create_team(conn, name, now)
        project, sending_token = tenancy.create_project(
            conn,
            team.id,
            name,
            now,
            initial_routes=options.initial_routes,
            smtp_enabled=options.smtp_enabled,
            redact_email_content=options.redact_email_content,
            delivery_mode=options.delivery_mode,
        )
    return CreatedProject(project, team, sending_token, new_team_token)


def _project_of(conn: Connection, team: tenancy.Team, project_id: str) -> tenancy.Project:
    project = tenancy.project_for_team(conn, team.id, project_id)
    if project is None:
        raise NotFound("project")
    return project


def _route_of(conn: Connection, team: tenancy.Team, route_id: str) -> tenancy.Route:
    route = tenancy.route_for_team(conn, team.id, route_id)
    if route is None:
        raise NotFound("route")
    return route


def update_project(
    db: Database,
    team: tenancy.Team,
    project_id: str,
    now: datetime,
    values: dict[str, Any],
    *,
    default_route_id: str | None = None,
) -> tenancy.Project:
    """Change the columns in ``values``, and make ``default_route_id`` (a public id) the
    default route; the project afterwards."""
    with db.write() as conn:
        project = _project_of(conn, team, project_id)
        values = dict(values)
        if default_route_id is not None:
            values["default_route_id"] = _make_default(conn, project, default_route_id, now)
        tenancy.update_project(conn, project.id, now, **values)
        fresh = tenancy.project_by_id(conn, project.id)
    assert fresh is not None
    return fresh


def delete_project(db: Database, team: tenancy.Team, project_id: str, now: datetime) -> None:
    """Delete a project of the team's with all its mail and engagement: at once it is gone
    from the team (its sending token refused, its tracking domains freed), and its data is
    purged in the background, in small batches (store/project_purge.py), so that deleting a
    large project holds no lock for long. Hits on links it sent still redirect while their
    destinations are cached, but are no longer recorded: the promoter drops hits whose copy is
    gone."""
    with db.write() as conn:
        project = _project_of(conn, team, project_id)
        project_purge.retire(conn, project.id, now)


def rotate_token(
    db: Database, team: tenancy.Team, project_id: str, now: datetime
) -> tuple[tenancy.Project, str]:
    """Give the project a new sending token; the old one stops working at once (only its hash
    was kept, and it is overwritten). The project afterwards and the new token, shown once."""
    with db.write() as conn:
        project = _project_of(conn, team, project_id)
        token = tenancy.rotate_sending_token(conn, project.id, now)
        fresh = tenancy.project_by_id(conn, project.id)
    assert fresh is not None
    return fresh, token


def _make_default(conn: Connection, project: tenancy.Project, route_id: str, now: datetime) -> int:
    """Make one of the project's sending routes its default; the route's id."""
    routes = tenancy.list_routes(conn, project.id)
    chosen = next((r for r in routes if r.public_id == route_id), None)
    if chosen is None or chosen.route_type is RouteType.INBOUND:
        raise Refused(
            "The default route must be one of this project's sending routes.",
            errors={
                "default_route_id": ["Name a transactional or broadcast route of this project."]
            },
        )
    for route in routes:
        if route.is_default != (route.id == chosen.id):
            tenancy.update_route(conn, route.id, now, is_default=route.id == chosen.id)
    return chosen.id


@dataclass(frozen=True, slots=True)
class RouteChanges:
    """What a route body asks for: the tracking columns (None: unchanged) and the whole new
    settings object."""

    track_opens: bool | None
    track_clicks: bool | None
    settings: dict[str, Any]


def _check_slug(conn: Connection, project: tenancy.Project, slug: str) -> None:
    if not tenancy.valid_slug(slug):
        raise Refused(
            "The slug may hold lowercase letters, digits and single hyphens.",
            errors={"slug": ["Use lowercase letters, digits and single hyphens, like my-route."]},
        )
    if tenancy.slug_taken(conn, project.id, slug):
        raise _slug_taken(slug)


def _slug_taken(slug: str) -> Refused:
    return Refused(f"This project already has a route {slug!r}.", status=409, code="slug_taken")


def create_route(
    db: Database,
    team: tenancy.Team,
    project_id: str,
    name: str,
    route_type: RouteType,
    now: datetime,
    changes: RouteChanges,
    *,
    slug: str | None = None,
) -> tuple[tenancy.Project, tenancy.Route]:
    """A route of the team's project, with ``slug`` or one made from the name; the project
    and the route."""
    try:
        with db.write() as conn:
            project = _project_of(conn, team, project_id)
            if slug is not None:
                _check_slug(conn, project, slug)
            route = tenancy.create_route(
                conn,
                project.id,
                name,
                route_type,
                now,
                slug=slug,
                track_opens=changes.track_opens,
                track_clicks=changes.track_clicks,
                settings=changes.settings,
            )
    except IntegrityError as exc:  # a concurrent request took the slug first
        raise _slug_taken(slug or name) from exc
    return project, route


def update_route(
    db: Database,
    team: tenancy.Team,
    route_id: str,
    now: datetime,
    changes: Callable[[tenancy.Route], RouteChanges],
    *,
    name: str | None = None,
    slug: str | None = None,
    route_type: str | None = None,
) -> tuple[tenancy.Project, tenancy.Route]:
    """Rename the route and apply ``changes(route)``, worked out from the route as it is in
    this transaction (settings merge into the current ones). ``slug`` and ``route_type`` are
    refused unless they are the route's own. The project and the route afterwards."""
    with db.write() as conn:
        route = _route_of(conn, team, route_id)
        _refuse_identity_changes(route, slug=slug, route_type=route_type)
        asked = changes(route)
        values: dict[str, Any] = {"settings": asked.settings}
        if name is not None:
            values["name"] = name
        if asked.track_opens is not None:
            values["track_opens"] = asked.track_opens
        if asked.track_clicks is not None:
            values["track_clicks"] = asked.track_clicks
        tenancy.update_route(conn, route.id, now, **values)
        fresh = tenancy.route_by_id(conn, route.id)
        project = tenancy.project_by_id(conn, route.project_id)
    assert fresh is not None
    assert project is not None
    return project, fresh


def _refuse_identity_changes(
    route: tenancy.Route, *, slug: str | None, route_type: str | None
) -> None:
    """Senders name a route by its slug, and its type decides what it may do: neither
    changes once the route exists."""
    errors: dict[str, list[str]] = {}
    if slug is not None and slug != route.slug:
        errors["slug"] = ["A route's slug cannot change: senders name the route by it."]
    if route_type is not None and route_type != route.route_type.value:
        errors["route_type"] = ["A route's type cannot change; create another route."]
    if errors:
        raise Refused(next(iter(errors.values()))[0], errors=errors)


def delete_route(db: Database, team: tenancy.Team, route_id: str) -> None:
    """Delete a route of the team's; never the project's default (mail names no route and
    would have nowhere to go)."""
    with db.write() as conn:
        route = _route_of(conn, team, route_id)
        if route.is_default:
            raise Refused(
                "The default route cannot be deleted: make another route the default first.",
                errors={"route": ["This is the project's default route."]},
            )
        tenancy.delete_route(conn, route.id)
