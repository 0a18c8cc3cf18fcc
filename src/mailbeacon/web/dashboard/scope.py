"""The viewer's projects, and the one a page is about (another team's answers 404)."""

from __future__ import annotations

from sqlalchemy import Connection

from ...core.errors import NotFound
from ...store import tenancy
from ...store.accounts import SessionRow

__all__ = ["chosen_project", "team_projects"]


def team_projects(conn: Connection, viewer: SessionRow) -> list[tenancy.Project]:
    return tenancy.list_projects(conn, viewer.user.team.id)


def chosen_project(
    conn: Connection, viewer: SessionRow, public_id: str | None
) -> tuple[tenancy.Project | None, list[tenancy.Project]]:
    """The project named (404 unless the viewer's team's), else the team's first."""
    found = team_projects(conn, viewer)
    if public_id:
        for project in found:
            if project.public_id == public_id:
                return project, found
        raise NotFound("project")
    return (found[0] if found else None), found
