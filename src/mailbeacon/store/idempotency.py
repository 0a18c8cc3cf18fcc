"""Idempotency keys: the same key with the same body replays the first response for 24 h.

``begin`` claims a key inside the caller's transaction, so two requests racing on one key
cannot both send: the second finds the first one's row (in flight, or done).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from .schema import idempotency_keys

__all__ = ["Claim", "Outcome", "begin", "finish", "release"]

RETENTION = timedelta(hours=24)


class Outcome(enum.Enum):
    NEW = "new"  # the caller owns the key now and must finish (or release) it
    REPLAY = "replay"  # same body: answer with the stored response
    CONFLICT = "conflict"  # another body used this key
    IN_FLIGHT = "in_flight"  # the first request with this key is still being processed


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    key_id: int | None = None
    status_code: int | None = None
    response: Any = None


def begin(
    conn: Connection, project_id: int, scope: str, key: str, body_hash: str, now: datetime
) -> Claim:
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.project_id == project_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at < now - RETENTION,
        )
    )
    existing = _existing(conn, project_id, scope, key, body_hash)
    if existing is not None:
        return existing
    try:
        with conn.begin_nested():
            inserted = conn.execute(
                idempotency_keys.insert()
                .values(
                    project_id=project_id,
                    scope=scope,
                    key=key,
                    body_hash=body_hash,
                    state="in_flight",
                    created_at=now,
                )
                .returning(idempotency_keys.c.id)
            ).one()
    except IntegrityError:
        # A concurrent request with the key committed first (PostgreSQL waits for it).
        return _existing(conn, project_id, scope, key, body_hash) or Claim(Outcome.IN_FLIGHT)
    return Claim(Outcome.NEW, inserted.id)


def _existing(
    conn: Connection, project_id: int, scope: str, key: str, body_hash: str
) -> Claim | None:
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.project_id == project_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
        )
    ).first()
    if row is None:
        return None
    if row.body_hash != body_hash:
        return Claim(Outcome.CONFLICT)
    if row.state != "done":
        return Claim(Outcome.IN_FLIGHT)
    return Claim(Outcome.REPLAY, row.id, row.status_code, row.response)


def finish(conn: Connection, key_id: int, status_code: int, response: Any) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.id == key_id)
        .values(state="done", status_code=status_code, response=response)
    )


def release(conn: Connection, key_id: int) -> None:
    """Forget a key whose request failed before anything was accepted."""
    conn.execute(delete(idempotency_keys).where(idempotency_keys.c.id == key_id))
