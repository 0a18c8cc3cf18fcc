"""Reads the dashboard needs that no API makes: a message's hits not promoted yet, the live
feed of a team's hits, and the verdicts of hits once promoted."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, select

from .schema import copies, events, messages, observations, projects, unpromoted

__all__ = [
    "Hit",
    "Verdict",
    "latest_hit_id",
    "link_clicks",
    "pending_hits",
    "request_facts",
    "team_hits",
    "verdicts_of",
]


@dataclass(frozen=True, slots=True)
class Hit:
    """One raw observation, with the message it belongs to."""

    id: int
    copy_id: int
    kind: int
    link_index: int
    at_us: int
    method: str
    ip: str | None
    user_agent: str
    promoted: bool
    message_public_id: str
    recipient: str
    subject: str | None


@dataclass(frozen=True, slots=True)
class Verdict:
    observation_id: int
    type: str
    classification: str | None
    probability: int | None
    machine: bool | None
    counts_for_metrics: bool | None


def _hits(*, waiting_only: bool = False) -> Any:
    """The hits with their messages; ``waiting_only``: those the promoter has not judged yet,
    read from its queue (a settle window's worth), never a scan of every hit."""
    queue = (unpromoted.c.at_us == observations.c.at_us) & (
        unpromoted.c.observation_id == observations.c.id
    )
    if waiting_only:
        found = unpromoted.join(observations, queue)
    else:
        found = observations.outerjoin(unpromoted, queue)  # promoted: no longer in the queue
    return (
        select(
            observations.c.id,
            observations.c.copy_id,
            observations.c.kind,
            observations.c.link_index,
            observations.c.at_us,
            observations.c.method,
            observations.c.ip,
            observations.c.user_agent,
            unpromoted.c.observation_id.is_(None).label("promoted"),
            messages.c.public_id.label("message_public_id"),
            copies.c.recipient,
            messages.c.subject,
        )
        .select_from(found)
        .join(copies, copies.c.id == observations.c.copy_id)
        .join(messages, messages.c.id == copies.c.message_id)
        .join(projects, projects.c.id == messages.c.project_id)
    )


def _hit(row: Row[Any]) -> Hit:
    return Hit(
        row.id,
        row.copy_id,
        row.kind,
        row.link_index,
        row.at_us,
        row.method,
        row.ip,
        row.user_agent,
        bool(row.promoted),
        row.message_public_id,
        row.recipient,
        row.subject,
    )


def pending_hits(conn: Connection, copy_ids: Collection[int]) -> list[Hit]:
    """The hits on these copies the promoter has not judged yet (a settle window's worth:
    read from ``unpromoted``, without scanning every hit)."""
    if not copy_ids:
        return []
    query = (
        _hits(waiting_only=True)
        .where(observations.c.copy_id.in_(list(copy_ids)))
        .order_by(unpromoted.c.at_us)
    )
    return [_hit(row) for row in conn.execute(query)]


def latest_hit_id(conn: Connection) -> int:
    return int(
        conn.execute(select(observations.c.id).order_by(observations.c.id.desc()).limit(1)).scalar()
        or 0
    )


def team_hits(
    conn: Connection, team_id: int, after_id: int, limit: int, project_id: int | None = None
) -> list[Hit]:
    """The team's hits recorded after ``after_id``, oldest first (the live page's feed)."""
    query = _hits().where(observations.c.id > after_id, projects.c.team_id == team_id)
    if project_id is not None:
        query = query.where(projects.c.id == project_id)
    return [_hit(row) for row in conn.execute(query.order_by(observations.c.id).limit(limit))]


def request_facts(
    conn: Connection, observation_ids: Collection[int]
) -> dict[int, tuple[str | None, str]]:
    """(client IP as kept, method) of the hits events were promoted from."""
    if not observation_ids:
        return {}
    query = select(observations.c.id, observations.c.ip, observations.c.method).where(
        observations.c.id.in_(list(observation_ids))
    )
    return {row.id: (row.ip, row.method) for row in conn.execute(query)}


def verdicts_of(conn: Connection, observation_ids: Sequence[int]) -> list[Verdict]:
    if not observation_ids:
        return []
    query = select(
        events.c.observation_id,
        events.c.type,
        events.c.classification,
        events.c.probability,
        events.c.machine,
        events.c.counts_for_metrics,
    ).where(events.c.observation_id.in_(list(observation_ids)))
    return [
        Verdict(
            row.observation_id,
            row.type,
            row.classification,
            row.probability,
            row.machine,
            row.counts_for_metrics,
        )
        for row in conn.execute(query)
    ]


def link_clicks(conn: Connection, message_id: int) -> dict[tuple[int, bool], int]:
    """Clicks per (link index, counted for metrics) of a message, over all its events."""
    query = (
        select(events.c.link_index, events.c.counts_for_metrics, func.count())
        .where(events.c.message_id == message_id, events.c.type == "message.clicked")
        .group_by(events.c.link_index, events.c.counts_for_metrics)
    )
    return {(int(r[0]), bool(r[1])): int(r[2]) for r in conn.execute(query) if r[0] is not None}
