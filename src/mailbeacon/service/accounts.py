"""Dashboard accounts as use cases: add a user, sign in (throttled), open and close sessions.

Sessions are server-side rows, not signed cookies. A signed cookie would spare one indexed
read per page, but it cannot be taken back: signing out, removing a user or a stolen cookie
would stay valid until it expires, and the instance would need one more long-lived secret to
keep and rotate. A row can be deleted, and the dashboard already reads the database on every
page. The cookie carries 32 random bytes; the table keeps their SHA-256 only, so reading the
database does not sign anyone in. Each session has its own CSRF token (synchroniser pattern):
every form carries it, and a POST without it is refused (web/dashboard/csrf.py).

Throttling counts failed sign-ins per account and per client address over a window, in the
database, so the limit holds for every process of a deployment. Past the limit even the right
password is refused until the window moves on: a guesser learns nothing from the answer.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from ..core.errors import Refused
from ..store import accounts as store
from ..store import tenancy
from ..store.db import Database

__all__ = [
    "ACCOUNT_LIMIT",
    "IP_LIMIT",
    "SESSION_LIFETIME",
    "THROTTLE_WINDOW",
    "SignIn",
    "add_user",
    "normalise_email",
    "session_for",
    "sign_in",
    "sign_out",
]

THROTTLE_WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 5  # failures per account in the window
IP_LIMIT = 20  # failures per client address in the window (several accounts behind one NAT)
SESSION_LIFETIME = timedelta(days=7)
MIN_PASSWORD = 10

_hasher = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106)
# Verified against when the email has no account, so that an unknown email takes as long to
# refuse as a wrong password (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash("no such account: this hash only burns the time of a check")


def _throttled() -> Refused:
    """Too many failed sign-ins for this account or address: 429, try again later."""
    return Refused(
        "Too many failed sign-ins. Wait a few minutes and try again.",
        status=429,
        code="too_many_attempts",
    )


@dataclass(frozen=True, slots=True)
class SignIn:
    """A new session: the cookie's token (shown once, never stored) and its CSRF token."""

    token: str
    csrf_token: str
    user: store.User


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(db: Database, team_token_or_id: str, email: str, password: str, now: datetime) -> str:
    """A user of the team named by its token or public id; the user's public id."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise Refused("That is not an email address.", errors={"email": ["Give an email."]})
    if len(password) < MIN_PASSWORD:
        raise Refused(
            f"The password must have at least {MIN_PASSWORD} characters.",
            errors={"password": [f"At least {MIN_PASSWORD} characters."]},
        )
    password_hash = _hasher.hash(password)
    with db.write() as conn:
        team = tenancy.team_by_token(conn, team_token_or_id) or store.team_by_public_id(
            conn, team_token_or_id
        )
        if team is None:
            raise Refused("No such team: give its team token or id.", status=404, code="not_found")
        try:
            with conn.begin_nested():
                store.insert_user(conn, team.id, email, password_hash, now)
        except IntegrityError as exc:
            raise Refused(
                f"{email} has an account already.", status=409, code="email_taken"
            ) from exc
        found = store.user_by_email(conn, email)
    assert found is not None
    return found.public_id


def sign_in(db: Database, email: str, password: str, client: str, now: datetime) -> SignIn | None:
    """A session for the right password; None for a wrong one (recorded); a 429 :class:`Refused`
    once the account or the address has failed too often in the window."""
    email = normalise_email(email)
    subjects = [f"email:{email}", f"ip:{client}"]
    since = now - THROTTLE_WINDOW
    with db.read() as conn:
        if store.count_failures(conn, subjects[0], since) >= ACCOUNT_LIMIT or (
            store.count_failures(conn, subjects[1], since) >= IP_LIMIT
        ):
            raise _throttled()
        user = store.user_by_email(conn, email)
    if not _verify(user.password_hash if user else _DUMMY_HASH, password) or user is None:
        with db.write() as conn:
            store.add_failure(conn, subjects, now)
        return None
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with db.write() as conn:
        store.forget_failures(conn, subjects[0], before=since)
        store.delete_expired_sessions(conn, now)
        store.insert_session(
            conn, user.id, _hash_token(token), csrf_token, now, now + SESSION_LIFETIME
        )
    return SignIn(token, csrf_token, user)


def _verify(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def session_for(db: Database, token: str, now: datetime) -> store.SessionRow | None:
    """The live session a cookie's token opens (a read: no write on every page)."""
    if not token or len(token) > 100:
        return None
    with db.read() as conn:
        return store.session_by_hash(conn, _hash_token(token), now)


def sign_out(db: Database, token: str) -> None:
    with db.write() as conn:
        store.delete_session(conn, _hash_token(token))
