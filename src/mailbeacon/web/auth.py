"""Who is calling: a project's sending token or a team's token.

Sending API: ``x-lettermint-token: <token>`` (Lettermint) or ``Authorization: Bearer <token>``
(Lettr, and Lettermint's alternative). Team API: ``Authorization: Bearer lm_team_...``.
"""

from __future__ import annotations

from fastapi import Request

from ..core.errors import ApiError
from ..store import tenancy
from .services import services_of

__all__ = ["sending_project", "team"]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def sending_project(request: Request) -> tenancy.Project:
    token = request.headers.get("x-lettermint-token") or _bearer(request)
    if not token:
        raise ApiError(401, "Missing API token: send x-lettermint-token or Authorization: Bearer.")
    with services_of(request).db.read() as conn:
        project = tenancy.project_by_sending_token(conn, token)
    if project is None:
        if token.startswith("lm_team_"):
            raise ApiError(403, "This endpoint needs a project's sending token, not a team token.")
        raise ApiError(401, "Invalid API token.")
    return project


def team(request: Request) -> tenancy.Team:
    token = _bearer(request)
    if not token:
        raise ApiError(401, "Missing team token: send Authorization: Bearer lm_team_...")
    with services_of(request).db.read() as conn:
        found = tenancy.team_by_token(conn, token)
        if found is None and tenancy.project_by_sending_token(conn, token) is not None:
            raise ApiError(403, "This endpoint needs a team token, not a sending token.")
    if found is None:
        raise ApiError(401, "Invalid team token.")
    return found


def either(request: Request) -> tenancy.Team | tenancy.Project:
    """Endpoints that take a team or a sending token (Lettermint's /ping)."""
    if request.headers.get("x-lettermint-token"):
        return sending_project(request)
    token = _bearer(request) or ""
    return team(request) if token.startswith("lm_team_") else sending_project(request)
