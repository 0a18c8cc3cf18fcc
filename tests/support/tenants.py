"""Projects with known tokens, for tests."""

from __future__ import annotations

from dataclasses import dataclass

from mailbeacon.clock import Clock
from mailbeacon.store import tenancy
from mailbeacon.store.db import Database


@dataclass(frozen=True)
class Tenant:
    team: tenancy.Team
    project: tenancy.Project
    sending_token: str
    team_token: str


def new_tenant(db: Database, clock: Clock, name: str = "Acme") -> Tenant:
    with db.write() as conn:
        team, team_token = tenancy.create_team(conn, name, clock.now())
        project, sending_token = tenancy.create_project(conn, team.id, name, clock.now())
    return Tenant(team, project, sending_token, team_token)
