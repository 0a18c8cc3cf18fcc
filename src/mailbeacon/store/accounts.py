"""Dashboard users, their sessions and failed sign-ins (service/accounts.py decides; this
module only reads and writes the rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from .ids import new_id
from .schema import dashboard_sessions, dashboard_users, login_attempts, teams
from .tenancy import Team

__all__ = [
    "SessionRow",
    "User",
    "add_failure",
    "count_failures",
    "delete_expired_sessions",
    "delete_session",
    "forget_failures",
    "insert_session",
    "insert_user",
    "session_by_hash",
    "team_by_public_id",
    "user_by_email",
]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    public_id: str
    email: str
    password_hash: str
    team: Team


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    user: User
    csrf_token: str
    expires_at: datetime


def _users() -> Any:
    return select(
        dashboard_users,
        teams.c.public_id.label("team_public_id"),
        teams.c.name.label("team_name"),
        teams.c.created_at.label("team_created_at"),
    ).join(teams, teams.c.id == dashboard_users.c.team_id)


def _user(row: Row[Any]) -> User:
    team = Team(row.team_id, row.team_public_id, row.team_name, row.team_created_at)
    return User(row.id, row.public_id, row.email, row.password_hash, team)


def team_by_public_id(conn: Connection, public_id: str) -> Team | None:
    """For the operator's `user add --team ID` (a team token works too, see tenancy)."""
    row = conn.execute(select(teams).where(teams.c.public_id == public_id)).first()
    return Team(row.id, row.public_id, row.name, row.created_at) if row else None


def insert_user(
    conn: Connection, team_id: int, email: str, password_hash: str, now: datetime
) -> int:
    """Raises IntegrityError when the email has an account already (the unique index
    referees a race between two `user add`)."""
    return int(
        conn.execute(
            insert(dashboard_users)
            .values(
                public_id=new_id(),
                team_id=team_id,
                email=email,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
            )
            .returning(dashboard_users.c.id)
        ).scalar_one()
    )


def user_by_email(conn: Connection, email: str) -> User | None:
    row = conn.execute(_users().where(dashboard_users.c.email == email)).first()
    return _user(row) if row else None


def insert_session(
    conn: Connection,
    user_id: int,
    token_hash: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    conn.execute(
        insert(dashboard_sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )


def session_by_hash(conn: Connection, token_hash: str, now: datetime) -> SessionRow | None:
    """The unexpired session with this token hash, with its user and team."""
    query = (
        _users()
        .add_columns(
            dashboard_sessions.c.id.label("session_id"),
            dashboard_sessions.c.csrf_token,
            dashboard_sessions.c.expires_at,
        )
        .join(dashboard_sessions, dashboard_sessions.c.user_id == dashboard_users.c.id)
        .where(dashboard_sessions.c.token_hash == token_hash, dashboard_sessions.c.expires_at > now)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return SessionRow(row.session_id, _user(row), row.csrf_token, row.expires_at)


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == token_hash))


def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))


def add_failure(conn: Connection, subjects: list[str], now: datetime) -> None:
    conn.execute(insert(login_attempts), [{"subject": s, "at": now} for s in subjects])


def count_failures(conn: Connection, subject: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(login_attempts)
            .where(login_attempts.c.subject == subject, login_attempts.c.at > since)
        ).scalar_one()
    )


def forget_failures(conn: Connection, subject: str, before: datetime) -> None:
    """After a good sign-in the account's count starts again; old rows of anyone go too."""
    conn.execute(delete(login_attempts).where(login_attempts.c.subject == subject))
    conn.execute(delete(login_attempts).where(login_attempts.c.at <= before))
