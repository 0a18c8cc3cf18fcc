"""The suppression list and the tracking opt-outs of a team (core/suppressions.py: the rules).

Addresses are kept in lower case (core.suppressions.normal_address); every lookup is by the
team and the address, which the unique keys index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core.suppressions import Suppression, scope_key
from .ids import new_id
from .schema import messages, projects, routes, suppressions, tracking_opt_outs

__all__ = [
    "Listed",
    "NewSuppression",
    "OptOut",
    "add",
    "add_opt_outs",
    "for_addresses",
    "list_for_team",
    "list_opt_outs",
    "opted_out",
    "remove",
    "remove_opt_out",
]


@dataclass(frozen=True, slots=True)
class NewSuppression:
    value: str  # lower case
    reason: str
    scope: str
    applies_to: str
    project_id: int | None = None
    route_id: int | None = None
    source_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    """A suppression as the API shows it: public ids of what it names."""

    public_id: str
    value: str
    reason: str
    scope: str
    applies_to: str
    project_public_id: str | None
    route_public_id: str | None
    source_message: tuple[str, str | None, datetime] | None  # public id, subject, created
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OptOut:
    public_id: str
    value: str
    created_at: datetime


def _insert(conn: Connection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def add(conn: Connection, team_id: int, new: Sequence[NewSuppression], now: datetime) -> list[str]:
    """Insert each suppression unless the same address is suppressed already for the same
    scope and mail category; the addresses inserted (concurrent writers included: the unique
    key decides)."""
    created: list[str] = []
    for item in new:
        statement = (
            _insert(conn)(suppressions)
            .values(
                public_id=new_id(),
                team_id=team_id,
                project_id=item.project_id,
                route_id=item.route_id,
                scope=item.scope,
                scope_key=scope_key(item.scope, item.project_id, item.route_id),
                value=item.value,
                reason=item.reason,
                applies_to=item.applies_to,
                source_message_id=item.source_message_id,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(suppressions.c.id)
        )
        if conn.execute(statement).first() is not None:
            created.append(item.value)
    return created


def for_addresses(conn: Connection, team_id: int, values: Iterable[str]) -> list[Suppression]:
    """The team's suppressions of these addresses (lower case), every scope."""
    wanted = sorted(set(values))
    if not wanted:
        return []
    rows = conn.execute(
        select(suppressions)
        .where(suppressions.c.team_id == team_id, suppressions.c.value.in_(wanted))
        .order_by(suppressions.c.id)
    )
    return [
        Suppression(r.public_id, r.value, r.reason, r.scope, r.applies_to, r.project_id, r.route_id)
        for r in rows
    ]


def list_for_team(conn: Connection, team_id: int) -> list[Listed]:
    """Every suppression of the team, oldest first (filtered and paged by the caller)."""
    query = (
        select(
            suppressions,
            projects.c.public_id.label("project_public_id"),
            routes.c.public_id.label("route_public_id"),
            messages.c.public_id.label("message_public_id"),
            messages.c.subject.label("message_subject"),
            messages.c.created_at.label("message_created_at"),
        )
        .select_from(
            suppressions.outerjoin(projects, projects.c.id == suppressions.c.project_id)
            .outerjoin(routes, routes.c.id == suppressions.c.route_id)
            .outerjoin(messages, messages.c.id == suppressions.c.source_message_id)
        )
        .where(suppressions.c.team_id == team_id)
        .order_by(suppressions.c.id)
    )
    return [
        Listed(
            r.public_id,
            r.value,
            r.reason,
            r.scope,
            r.applies_to,
            r.project_public_id,
            r.route_public_id,
            (
                (r.message_public_id, r.message_subject, r.message_created_at)
                if r.message_public_id
                else None
            ),
            r.created_at,
        )
        for r in conn.execute(query)
    ]


def remove(conn: Connection, team_id: int, public_id: str) -> bool:
    """Delete the team's suppression; whether there was one."""
    gone = conn.execute(
        delete(suppressions).where(
            suppressions.c.team_id == team_id, suppressions.c.public_id == public_id
        )
    )
    return bool(gone.rowcount)


def add_opt_outs(conn: Connection, team_id: int, values: Sequence[str], now: datetime) -> list[str]:
    """Record tracking opt-outs; the addresses that were not opted out before."""
    created = []
    for value in values:
        statement = (
            _insert(conn)(tracking_opt_outs)
            .values(public_id=new_id(), team_id=team_id, value=value, created_at=now)
            .on_conflict_do_nothing()
            .returning(tracking_opt_outs.c.id)
        )
        if conn.execute(statement).first() is not None:
            created.append(value)
    return created


def opted_out(conn: Connection, team_id: int, values: Iterable[str]) -> set[str]:
    """Which of these addresses (lower case) opted out of tracking."""
    wanted = sorted(set(values))
    if not wanted:
        return set()
    rows = conn.execute(
        select(tracking_opt_outs.c.value).where(
            tracking_opt_outs.c.team_id == team_id, tracking_opt_outs.c.value.in_(wanted)
        )
    )
    return {row.value for row in rows}


def list_opt_outs(conn: Connection, team_id: int) -> list[OptOut]:
    rows = conn.execute(
        select(tracking_opt_outs)
        .where(tracking_opt_outs.c.team_id == team_id)
        .order_by(tracking_opt_outs.c.id)
    )
    return [OptOut(r.public_id, r.value, r.created_at) for r in rows]


def remove_opt_out(conn: Connection, team_id: int, public_id: str) -> bool:
    gone = conn.execute(
        delete(tracking_opt_outs).where(
            tracking_opt_outs.c.team_id == team_id, tracking_opt_outs.c.public_id == public_id
        )
    )
    return bool(gone.rowcount)
