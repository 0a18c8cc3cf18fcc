"""Secrets the instance makes for itself and keeps in its database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from .schema import instance_secrets

__all__ = ["get_or_create"]


def get_or_create(conn: Connection, name: str, make: Callable[[], str], now: datetime) -> str:
    row = conn.execute(
        select(instance_secrets.c.value).where(instance_secrets.c.name == name)
    ).first()
    if row is not None:
        return str(row.value)
    value = make()
    try:
        with conn.begin_nested():
            conn.execute(instance_secrets.insert().values(name=name, value=value, created_at=now))
    except IntegrityError:  # another process made it first: use theirs
        return get_or_create(conn, name, make, now)
    return value
