"""Deleting a project: at once from its team's sight, then its data in the background.

:func:`retire` is the request's short transaction: the project moves to a team of its own that
no token opens (so every team-scoped read, list, dashboard and analytics stops showing it,
without a filter in each query), its sending token stops working, its custom tracking domains
are freed, and ``deleted_at`` marks it for the purge.

:func:`purge_batch` is the background's: one batch of at most ``limit`` rows of the oldest
retired project, in an order that keeps every batch small whatever the project's size
(copies before their messages, so that no message's delete cascades over a campaign's
copies), and, once nothing is left, the project row and its team. The retention worker runs
it (workers/retention.py). Raw hits of its copies are left to retention (they carry no
project and are deleted after MAILBEACON_RETENTION_HITS_DAYS; the promoter drops them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, func, select, update

from .retention import mark, set_mark
from .schema import (
    analytics_daily,
    analytics_hourly,
    analytics_values,
    copies,
    events,
    idempotency_keys,
    messages,
    projects,
    retention_marks,
    stats_daily,
    teams,
    tracking_domains,
    webhook_deliveries,
)
from .tenancy import create_team, hash_token, new_sending_token

__all__ = ["purge_batch", "retire"]

DELIVERY_SPAN = 5000  # webhook deliveries (no index by project) are walked by id ranges


def retire(conn: Connection, project_id: int, now: datetime) -> None:
    tombstone, _ = create_team(conn, "(deleted project)", now)  # its token is never shown
    conn.execute(
        update(projects)
        .where(projects.c.id == project_id)
        .values(
            team_id=tombstone.id,
            deleted_at=now,
            sending_token_hash=hash_token(new_sending_token()),  # the old token: refused
            updated_at=now,
        )
    )
    conn.execute(tracking_domains.delete().where(tracking_domains.c.project_id == project_id))


def _delete_some(conn: Connection, table: Table, ids: list[int]) -> int:
    if ids:
        conn.execute(table.delete().where(table.c.id.in_(ids)))
    return len(ids)


def purge_batch(conn: Connection, limit: int) -> int:
    """One batch of the oldest retired project's data; rows deleted (0: none retired)."""
    project = conn.execute(
        select(projects.c.id, projects.c.team_id)
        .where(projects.c.deleted_at.is_not(None))
        .order_by(projects.c.deleted_at, projects.c.id)
        .limit(1)
    ).first()
    if project is None:
        return 0
    project_id = project.id
    of_project = messages.c.project_id == project_id
    copy_ids = conn.execute(
        select(copies.c.id)
        .join(messages, messages.c.id == copies.c.message_id)
        .where(of_project)
        .limit(limit)
    ).scalars()
    done = _delete_some(conn, copies, list(copy_ids))
    if done:
        return done
    event_ids = conn.execute(
        select(events.c.id).where(events.c.project_id == project_id).limit(limit)
    ).scalars()
    done = _delete_some(conn, events, list(event_ids))
    if done:
        return done
    message_ids = conn.execute(select(messages.c.id).where(of_project).limit(limit)).scalars()
    done = _delete_some(conn, messages, list(message_ids))
    if done:
        return done
    done = _deliveries(conn, project_id)
    if done:
        return done
    for table in (
        stats_daily,
        analytics_hourly,
        analytics_daily,
        analytics_values,
        idempotency_keys,
    ):
        # small tables per project, keyed by it: one statement each
        found = conn.execute(table.delete().where(table.c.project_id == project_id)).rowcount
        if found:
            return int(found)
    conn.execute(teams.delete().where(teams.c.id == project.team_id))  # the project with it
    conn.execute(
        retention_marks.delete().where(retention_marks.c.name == _deliveries_mark(project_id))
    )
    return 1


def _deliveries_mark(project_id: int) -> str:
    return f"project_deliveries:{project_id}"


def _deliveries(conn: Connection, project_id: int) -> int:
    """Its webhook deliveries in the next span of ids after a mark: the rows deleted, at least
    1 while spans are left (work was done), 0 once past the last delivery."""
    name = _deliveries_mark(project_id)
    start = mark(conn, name)
    newest = conn.execute(select(func.max(webhook_deliveries.c.id))).scalar() or 0
    if start >= newest:
        return 0
    end = start + DELIVERY_SPAN
    found = conn.execute(
        webhook_deliveries.delete().where(
            webhook_deliveries.c.id > start,
            webhook_deliveries.c.id <= end,
            webhook_deliveries.c.project_id == project_id,
        )
    ).rowcount
    set_mark(conn, name, end)
    return max(int(found or 0), 1)
