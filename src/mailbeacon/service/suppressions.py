"""Changing a team's suppression list and tracking opt-outs (the Team API's use cases).

Requests name projects and routes by public id; each must be the caller's team's (another
team's is a 404, as one that does not exist). The rules of what a suppression blocks are
core/suppressions.py's; the other writers of suppressions are the unsubscribe endpoint
(service/unsubscribes.py) and bounces (service/bounces.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from ..core.errors import NotFound, Refused
from ..core.intake.policy import RouteType
from ..core.intake.submission import address_problem, parse_address
from ..core.suppressions import APPLIES_TO, REASONS, SCOPES, applies_to_for, normal_address
from ..store import suppressions, tenancy
from ..store.db import Database

__all__ = ["Added", "SuppressionRequest", "add", "add_opt_outs", "remove", "remove_opt_out"]

MAX_ADDRESSES = 1000  # per request


@dataclass(frozen=True, slots=True)
class SuppressionRequest:
    """StoreSuppressionData, as given."""

    addresses: Sequence[str]
    reason: str
    scope: str
    project_id: str | None = None
    route_id: str | None = None
    applies_to: str | None = None


@dataclass(frozen=True, slots=True)
class Added:
    created: list[str]
    skipped: list[str]  # suppressed already (same scope and category), or given twice


def _refuse(field: str, message: str) -> Refused:
    return Refused(message, errors={field: [message]})


def _addresses(given: Sequence[str], field: str) -> list[str]:
    if not given:
        raise _refuse(field, "Give an address in email or emails.")
    if len(given) > MAX_ADDRESSES:
        raise _refuse(field, f"At most {MAX_ADDRESSES} addresses per request.")
    found = []
    for index, value in enumerate(given):
        parsed = parse_address(value) if isinstance(value, str) else None
        if parsed is None or parsed.name:
            problem = address_problem(value) if isinstance(value, str) else None
            raise _refuse(f"{field}.{index}", f"{value!r} {problem or 'is not a bare address'}.")
        found.append(normal_address(parsed.email))
    return found


def add(
    db: Database, team: tenancy.Team, request: SuppressionRequest, now: datetime, *, field: str
) -> Added:
    """Suppress the addresses of ``request`` (``field`` names where they came from)."""
    reason = REASONS.get(request.reason)
    if reason is None:
        raise _refuse("reason", f"The reason must be one of {', '.join(REASONS)}.")
    if request.scope not in SCOPES:
        raise _refuse("scope", f"The scope must be one of {', '.join(SCOPES)}.")
    if request.applies_to is not None and request.applies_to not in APPLIES_TO:
        raise _refuse("applies_to", "applies_to must be all or broadcast.")
    addresses = _addresses(request.addresses, field)
    applies_to = applies_to_for(reason, request.applies_to)
    with db.write() as conn:
        project_id, route_id = _where(conn, team, request, applies_to)
        new = [
            suppressions.NewSuppression(
                value, reason, request.scope, applies_to, project_id, route_id
            )
            for value in dict.fromkeys(addresses)
        ]
        created = suppressions.add(conn, team.id, new, now)
    made = set(created)
    return Added(created, [a for a in addresses if a not in made])


def _where(
    conn: Connection, team: tenancy.Team, request: SuppressionRequest, applies_to: str
) -> tuple[int | None, int | None]:
    """(projects.id, routes.id) the scope names."""
    if request.scope == "team":
        return None, None
    if request.scope == "project":
        if not request.project_id:
            raise _refuse("project_id", "A project suppression names its project_id.")
        project = tenancy.project_for_team(conn, team.id, request.project_id)
        if project is None:
            raise NotFound("project")
        return project.id, None
    if not request.route_id:
        raise _refuse("route_id", "A route suppression names its route_id.")
    route = tenancy.route_for_team(conn, team.id, request.route_id)
    if route is None:
        raise NotFound("route")
    if applies_to == "broadcast" and route.route_type is not RouteType.BROADCAST:
        # Lettermint's rule: on a transactional route it would block nothing.
        raise _refuse("applies_to", "broadcast applies to a broadcast route only.")
    return route.project_id, route.id


def remove(db: Database, team: tenancy.Team, public_id: str) -> None:
    with db.write() as conn:
        if not suppressions.remove(conn, team.id, public_id):
            raise NotFound("suppression")


def add_opt_outs(
    db: Database, team: tenancy.Team, addresses: Sequence[str], now: datetime
) -> Added:
    """Opt these recipients out of tracking: their future copies carry no pixel and no
    tracked link."""
    found = _addresses(addresses, "emails")
    with db.write() as conn:
        created = suppressions.add_opt_outs(conn, team.id, list(dict.fromkeys(found)), now)
    made = set(created)
    return Added(created, [a for a in found if a not in made])


def remove_opt_out(db: Database, team: tenancy.Team, public_id: str) -> None:
    with db.write() as conn:
        if not suppressions.remove_opt_out(conn, team.id, public_id):
            raise NotFound("tracking opt-out")
