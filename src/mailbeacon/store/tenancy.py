"""Teams, projects, routes and their API tokens.

A team holds projects and has a team token (Team API). A project sends mail, has a sending
token (Sending API, SMTP password) and routes; a new project gets the transactional route
``outgoing`` as its default. Tokens are stored as SHA-256 hashes and shown once.

Every query that takes a public id also takes the caller's team id: a token of one team can
neither read nor change another team's projects (DESIGN.md, invariant 6).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from ..core.intake.policy import RouteType
from .ids import new_id
from .schema import projects, routes, teams

__all__ = [
    "DEFAULT_ROUTE_SLUG",
    "Project",
    "Route",
    "Team",
    "create_project",
    "create_route",
    "create_team",
    "hash_token",
    "new_sending_token",
    "new_team_token",
]

DEFAULT_ROUTE_SLUG = "outgoing"
_ALPHANUMERIC = string.ascii_letters + string.digits
_SID_ALPHABET = string.ascii_lowercase + string.digits
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_sending_token() -> str:
    """``lm_`` and 32 alphanumerics: the format the Lettermint SDK recognises."""
    return "lm_" + _random(_ALPHANUMERIC, 32)


def new_team_token() -> str:
    return "lm_team_" + _random(_ALPHANUMERIC, 32)


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    public_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    public_id: str
    team_id: int
    sid: str
    name: str
    delivery_mode: str
    smtp_enabled: bool
    redact_email_content: bool
    default_route_id: int | None
    token_generated_at: datetime
    token_last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    public_id: str
    project_id: int
    name: str
    slug: str
    route_type: RouteType
    is_default: bool
    track_opens: bool
    track_clicks: bool
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _team(row: Row[Any]) -> Team:
    return Team(row.id, row.public_id, row.name, row.created_at)


def _project(row: Row[Any]) -> Project:
    return Project(
        id=row.id,
        public_id=row.public_id,
        team_id=row.team_id,
        sid=row.sid,
        name=row.name,
        delivery_mode=row.delivery_mode,
        smtp_enabled=row.smtp_enabled,
        redact_email_content=row.redact_email_content,
        default_route_id=row.default_route_id,
        token_generated_at=row.token_generated_at,
        token_last_used_at=row.token_last_used_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _route(row: Row[Any]) -> Route:
    return Route(
        id=row.id,
        public_id=row.public_id,
        project_id=row.project_id,
        name=row.name,
        slug=row.slug,
        route_type=RouteType(row.route_type),
        is_default=row.is_default,
        track_opens=row.track_opens,
        track_clicks=row.track_clicks,
        settings=dict(row.settings or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- teams ------------------------------------------------------------------------------------


def create_team(conn: Connection, name: str, now: datetime) -> tuple[Team, str]:
    """A new team and its team token (shown once)."""
    token = new_team_token()
    row = conn.execute(
        teams.insert()
        .values(public_id=new_id(), name=name, token_hash=hash_token(token), created_at=now)
        .returning(*teams.c)
    ).one()
    return _team(row), token


def team_by_id(conn: Connection, team_id: int) -> Team | None:
    row = conn.execute(select(teams).where(teams.c.id == team_id)).first()
    return _team(row) if row else None


def teams_by_reference(conn: Connection, reference: str) -> list[Team]:
    """Teams by public id or by exact name (the operator's command line)."""
    rows = conn.execute(
        select(teams).where((teams.c.public_id == reference) | (teams.c.name == reference))
    )
    return [_team(row) for row in rows]


def team_by_token(conn: Connection, token: str) -> Team | None:
    row = conn.execute(select(teams).where(teams.c.token_hash == hash_token(token))).first()
    return _team(row) if row else None


# --- projects ---------------------------------------------------------------------------------


def _new_sid(conn: Connection) -> str:
    while True:
        sid = _random(_SID_ALPHABET, 8)
        if conn.execute(select(projects.c.id).where(projects.c.sid == sid)).first() is None:
            return sid


def create_project(
    conn: Connection,
    team_id: int,
    name: str,
    now: datetime,
    *,
    initial_routes: str = "transactional",
    smtp_enabled: bool = True,
    redact_email_content: bool = False,
    delivery_mode: str = "live",
) -> tuple[Project, str]:
    """A new project with its routes, and its sending token (shown once).

    ``initial_routes``: "transactional" (the default route ``outgoing``), "broadcast" (a
    default broadcast route ``broadcast``) or "both".
    """
    token = new_sending_token()
    row = conn.execute(
        projects.insert()
        .values(
            public_id=new_id(),
            team_id=team_id,
            sid=_new_sid(conn),
            name=name,
            sending_token_hash=hash_token(token),
            delivery_mode=delivery_mode,
            smtp_enabled=smtp_enabled,
            redact_email_content=redact_email_content,
            token_generated_at=now,
            created_at=now,
            updated_at=now,
        )
        .returning(projects.c.id)
    ).one()
    project_id = row.id
    default_id = None
    if initial_routes in ("transactional", "both"):
        route = create_route(
            conn,
            project_id,
            "Outgoing",
            RouteType.TRANSACTIONAL,
            now,
            slug=DEFAULT_ROUTE_SLUG,
            is_default=True,
        )
        default_id = route.id
    if initial_routes in ("broadcast", "both"):
        route = create_route(
            conn,
            project_id,
            "Broadcast",
            RouteType.BROADCAST,
            now,
            slug="broadcast",
            is_default=default_id is None,
        )
        default_id = default_id or route.id
    conn.execute(
        update(projects).where(projects.c.id == project_id).values(default_route_id=default_id)
    )
    project = project_by_id(conn, project_id)
    assert project is not None
    return project, token


def project_by_id(conn: Connection, project_id: int) -> Project | None:
    row = conn.execute(select(projects).where(projects.c.id == project_id)).first()
    return _project(row) if row else None


def project_by_sending_token(conn: Connection, token: str) -> Project | None:
    row = conn.execute(
        select(projects).where(projects.c.sending_token_hash == hash_token(token))
    ).first()
    return _project(row) if row else None


def project_for_team(conn: Connection, team_id: int, public_id: str) -> Project | None:
    row = conn.execute(
        select(projects).where(projects.c.team_id == team_id, projects.c.public_id == public_id)
    ).first()
    return _project(row) if row else None


def project_by_reference(conn: Connection, reference: str) -> Project | None:
    """A project by public id or by sid (the operator's command line: any team's)."""
    row = conn.execute(
        select(projects).where(
            (projects.c.public_id == reference) | (projects.c.sid == reference.lower())
        )
    ).first()
    return _project(row) if row else None


def list_projects(conn: Connection, team_id: int | None = None) -> list[Project]:
    query = select(projects).order_by(projects.c.id)
    if team_id is not None:
        query = query.where(projects.c.team_id == team_id)
    return [_project(row) for row in conn.execute(query)]


def count_routes(conn: Connection, project_id: int) -> int:
    return conn.execute(
        select(func.count()).select_from(routes).where(routes.c.project_id == project_id)
    ).scalar_one()


def update_project(conn: Connection, project_id: int, now: datetime, **values: Any) -> None:
    if values:
        conn.execute(
            update(projects).where(projects.c.id == project_id).values(updated_at=now, **values)
        )


def touch_sending_token(conn: Connection, project_id: int, now: datetime) -> None:
    conn.execute(update(projects).where(projects.c.id == project_id).values(token_last_used_at=now))


def rotate_sending_token(conn: Connection, project_id: int, now: datetime) -> str:
    token = new_sending_token()
    conn.execute(
        update(projects)
        .where(projects.c.id == project_id)
        .values(sending_token_hash=hash_token(token), token_generated_at=now, updated_at=now)
    )
    return token


# --- routes -----------------------------------------------------------------------------------


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "route"


def valid_slug(slug: str) -> bool:
    return len(slug) <= 255 and _SLUG.fullmatch(slug) is not None


def create_route(
    conn: Connection,
    project_id: int,
    name: str,
    route_type: RouteType,
    now: datetime,
    *,
    slug: str | None = None,
    is_default: bool = False,
    track_opens: bool | None = None,
    track_clicks: bool | None = None,
    settings: dict[str, Any] | None = None,
) -> Route:
    """A route. Tracking defaults to on for sending routes (as Lettr's does) and is always off
    for inbound routes (the caller refuses to turn it on)."""
    sending = route_type is not RouteType.INBOUND
    row = conn.execute(
        routes.insert()
        .values(
            public_id=new_id(),
            project_id=project_id,
            name=name,
            slug=_unique_slug(conn, project_id, slug or slugify(name)),
            route_type=route_type.value,
            is_default=is_default,
            track_opens=sending if track_opens is None else track_opens and sending,
            track_clicks=sending if track_clicks is None else track_clicks and sending,
            settings=settings or {},
            created_at=now,
            updated_at=now,
        )
        .returning(*routes.c)
    ).one()
    return _route(row)


def _unique_slug(conn: Connection, project_id: int, slug: str) -> str:
    candidate, number = slug, 2
    while conn.execute(
        select(routes.c.id).where(routes.c.project_id == project_id, routes.c.slug == candidate)
    ).first():
        candidate, number = f"{slug}-{number}", number + 1
    return candidate


def slug_taken(conn: Connection, project_id: int, slug: str) -> bool:
    query = select(routes.c.id).where(routes.c.project_id == project_id, routes.c.slug == slug)
    return conn.execute(query).first() is not None


def route_by_id(conn: Connection, route_id: int) -> Route | None:
    row = conn.execute(select(routes).where(routes.c.id == route_id)).first()
    return _route(row) if row else None


def route_by_slug(conn: Connection, project_id: int, slug: str) -> Route | None:
    row = conn.execute(
        select(routes).where(routes.c.project_id == project_id, routes.c.slug == slug)
    ).first()
    return _route(row) if row else None


def route_for_team(conn: Connection, team_id: int, public_id: str) -> Route | None:
    row = conn.execute(
        select(routes)
        .join(projects, projects.c.id == routes.c.project_id)
        .where(projects.c.team_id == team_id, routes.c.public_id == public_id)
    ).first()
    return _route(row) if row else None


def list_routes(conn: Connection, project_id: int) -> list[Route]:
    query = select(routes).where(routes.c.project_id == project_id).order_by(routes.c.id)
    return [_route(row) for row in conn.execute(query)]


def update_route(conn: Connection, route_id: int, now: datetime, **values: Any) -> None:
    conn.execute(update(routes).where(routes.c.id == route_id).values(updated_at=now, **values))


def delete_route(conn: Connection, route_id: int) -> None:
    conn.execute(routes.delete().where(routes.c.id == route_id))
