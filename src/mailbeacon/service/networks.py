"""The network lists classification uses, as a use case: importing one replaces what was
imported before for its providers (store/networks.py), in one transaction, so the promoter
never judges hits against half a list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..core.verdicts.networks import NetworkRange
from ..store import networks as store
from ..store.db import Database

__all__ = ["import_ranges"]


def import_ranges(db: Database, ranges: Sequence[NetworkRange], now: datetime) -> int:
    """Store ``ranges`` in place of their providers' earlier imports; how many were stored."""
    with db.write() as conn:
        return store.import_ranges(conn, ranges, now)
