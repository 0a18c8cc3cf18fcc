"""Rebuilding the analytics counters from the events, as a use case: for events recorded
before the counters existed (migration 0011) or before a counter was added, and after a
restore that brought events back without their counters.

The writer (service/events.record) keeps the counters event by event; a rebuild recomputes
them in SQL from what the events say (store/analytics_rollups.rebuild), in one transaction
that holds the counters still meanwhile, so a promoter running at the same time loses no
increment and counts none twice.
"""

from __future__ import annotations

from ..core.errors import NotFound
from ..store import analytics_rollups, tenancy
from ..store.db import Database

__all__ = ["rebuild"]


def rebuild(db: Database, project: str | None = None) -> list[str]:
    """Recompute the counters of one project (its public id or sid) or of every project;
    the sids rebuilt. An unknown project is a NotFound."""
    with db.write() as conn:
        if project is None:
            chosen = tenancy.list_projects(conn)
        else:
            found = tenancy.project_by_reference(conn, project)
            if found is None:
                raise NotFound(f"project {project!r} (give its id or sid)")
            chosen = [found]
        if chosen:
            analytics_rollups.rebuild(conn, [p.id for p in chosen])
    return [p.sid for p in chosen]
