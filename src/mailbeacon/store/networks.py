"""Known network ranges: the list shipped with mailbeacon plus what the operator imported."""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from ..core.verdicts.networks import NetworkRange, NetworkTable, parse_ranges
from .schema import network_ranges

__all__ = ["builtin_ranges", "import_ranges", "imported_ranges", "load_table"]


def builtin_ranges() -> list[NetworkRange]:
    text = importlib.resources.files("mailbeacon.data").joinpath("networks.csv").read_text()
    return parse_ranges(text, source="mailbeacon/data/networks.csv")


def imported_ranges(conn: Connection) -> list[NetworkRange]:
    rows = conn.execute(select(network_ranges).order_by(network_ranges.c.id))
    return [NetworkRange(r.network, r.provider, r.role, r.confidence, r.source) for r in rows]


def load_table(conn: Connection) -> NetworkTable:
    """Shipped ranges, except the providers the operator imported lists for."""
    imported = imported_ranges(conn)
    replaced = {r.provider for r in imported}
    return NetworkTable([*(r for r in builtin_ranges() if r.provider not in replaced), *imported])


def import_ranges(conn: Connection, ranges: Sequence[NetworkRange], now: datetime) -> int:
    """Replace the imported lists of the providers in ``ranges`` with ``ranges``."""
    providers = sorted({r.provider for r in ranges})
    conn.execute(delete(network_ranges).where(network_ranges.c.provider.in_(providers)))
    if ranges:
        conn.execute(
            network_ranges.insert(),
            [
                {
                    "network": r.network,
                    "provider": r.provider,
                    "role": r.role,
                    "confidence": r.confidence,
                    "source": r.source,
                    "imported_at": now,
                }
                for r in ranges
            ],
        )
    return len(ranges)


def summary(conn: Connection) -> list[tuple[str, str, int, str]]:
    """(provider, role, ranges, source) of the imported lists."""
    rows = conn.execute(
        select(
            network_ranges.c.provider,
            network_ranges.c.role,
            func.count(),
            func.min(network_ranges.c.source),
        )
        .group_by(network_ranges.c.provider, network_ranges.c.role)
        .order_by(network_ranges.c.provider)
    )
    return [(r[0], r[1], int(r[2]), str(r[3])) for r in rows]
