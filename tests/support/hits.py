"""Raw hits stored as the shipper stores them: into ``observations``, each queued for the
promoter (store/observations.py ``insert_hits``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection

from mailbeacon.store.journal import HIT_COLUMNS
from mailbeacon.store.observations import insert_hits


def store(conn: Connection, hits: Iterable[Mapping[str, Any]]) -> None:
    """Each hit a mapping of the observation's columns (all but the id)."""
    insert_hits(conn, [tuple(hit[name] for name in HIT_COLUMNS) for hit in hits])
