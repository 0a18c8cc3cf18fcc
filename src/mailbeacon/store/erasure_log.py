"""The erasures' audit log (``erasures``), read: a team's erasures, newest first, or those of
one address, found by its keyed hash (service/erasure.py writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ..core.lifecycle.scrub import subject_hash
from .schema import erasures, instance_secrets

__all__ = ["HASH_KEY", "LoggedErasure", "logged", "subject_of"]

HASH_KEY = "erasure_hash_key"  # the instance secret the hashes are keyed with


@dataclass(frozen=True, slots=True)
class LoggedErasure:
    public_id: str
    subject_hash: str
    requested_by: str
    at: datetime
    erased: dict[str, Any]


def subject_of(conn: Connection, address: str) -> str | None:
    """The hash an erasure of ``address`` is logged under; None before any erasure."""
    key = conn.execute(
        select(instance_secrets.c.value).where(instance_secrets.c.name == HASH_KEY)
    ).scalar()
    return None if key is None else subject_hash(str(key).encode(), address)


def logged(conn: Connection, team_id: int, subject: str | None, limit: int) -> list[LoggedErasure]:
    query = select(erasures).where(erasures.c.team_id == team_id)
    if subject is not None:
        query = query.where(erasures.c.subject_hash == subject)
    rows = conn.execute(query.order_by(erasures.c.id.desc()).limit(limit))
    return [
        LoggedErasure(r.public_id, r.subject_hash, r.requested_by, r.at, dict(r.report))
        for r in rows
    ]
