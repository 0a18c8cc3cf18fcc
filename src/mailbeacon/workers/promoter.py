"""The promoter: observations become events, each with its verdict.

Observations wait a settle window (MAILBEACON_SETTLE_SECONDS) so that a scanner's burst over
all links is seen whole before its first click is judged. Then, per pass: the settled
observations are grouped by recipient copy, classified together (core/classify.py), given
their user agent's facts, and written as ``message.opened`` / ``message.clicked`` events with
``first_open`` / ``first_click`` counted over human-countable events only. Each event keeps
its observation id (unique), so a pass that dies half-way is simply done again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, select

from ..core.classify import Hit, classify
from ..core.useragent import client_facts
from ..store import observations
from ..store.observations import KIND_NAMES, Observation
from ..store.schema import copies, events, links, messages
from . import pause

if TYPE_CHECKING:
    from ..app import Services

__all__ = ["promote_settled", "promoter_worker"]

log = logging.getLogger(__name__)

BATCH = 5000
IDLE_SECONDS = 0.5


async def promoter_worker(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(promote_settled, services)
        except Exception:
            log.exception("promotion pass failed; retrying")
            done = 0
        if done < BATCH:
            await pause(stop, IDLE_SECONDS)


def promote_settled(services: Services, *, limit: int = BATCH) -> int:
    """One pass: promote up to ``limit`` settled observations; how many were promoted."""
    now = services.clock.now()
    settle = timedelta(seconds=services.settings.settle_seconds)
    upto_us = _micros(now - settle)
    with services.db.write() as conn:
        found = observations.settled(conn, upto_us, limit)
        if not found:
            return 0
        rows = _events_for(conn, found)
        if rows:
            conn.execute(events.insert(), rows)
        observations.mark_promoted(conn, [o.id for o in found])
    return len(found)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def _events_for(conn: Connection, found: list[Observation]) -> list[dict[str, Any]]:
    copy_ids = sorted({o.copy_id for o in found})
    context = {
        row.id: row
        for row in conn.execute(
            select(
                copies.c.id,
                copies.c.message_id,
                copies.c.recipient,
                copies.c.delivered_at,
                messages.c.project_id,
            )
            .join(messages, messages.c.id == copies.c.message_id)
            .where(copies.c.id.in_(copy_ids))
        )
    }
    message_ids = {row.message_id for row in context.values()}
    destinations = (
        {
            (row.message_id, row.link_index): (row.url, row.anchor_text)
            for row in conn.execute(
                select(
                    links.c.message_id, links.c.link_index, links.c.url, links.c.anchor_text
                ).where(links.c.message_id.in_(message_ids))
            )
        }
        if message_ids
        else {}
    )
    counted: set[tuple[int, str]] = {
        (row.copy_id, row.type)
        for row in conn.execute(
            select(events.c.copy_id, events.c.type)
            .where(and_(events.c.copy_id.in_(copy_ids), events.c.counts_for_metrics.is_(True)))
            .distinct()
        )
    }
    by_copy: dict[int, list[Observation]] = defaultdict(list)
    for observation in found:
        by_copy[observation.copy_id].append(observation)
    rows: list[dict[str, Any]] = []
    for copy_id, group in by_copy.items():
        copy = context.get(copy_id)
        if copy is None:
            continue  # the copy is gone (retention): nothing to attach the hit to
        hits = [
            Hit(
                kind=KIND_NAMES[o.kind],
                method=o.method,
                user_agent=o.user_agent,
                at=_at(o.at_us),
                sent_at=copy.delivered_at,
                link_index=o.link_index if o.kind != observations.KIND_OPEN else None,
                ip=o.ip,
                headers=json.loads(o.headers),
            )
            for o in group
        ]
        for observation, verdict in zip(group, classify(hits), strict=True):
            opened = observation.kind == observations.KIND_OPEN
            event_type = "message.opened" if opened else "message.clicked"
            first = None
            if verdict.counts_for_metrics:
                first = (copy_id, event_type) not in counted
                counted.add((copy_id, event_type))
            url = anchor = None
            index = None
            if observation.kind == observations.KIND_CLICK:
                index = observation.link_index
                url, anchor = destinations.get((copy.message_id, index), (None, None))
            facts = client_facts(observation.user_agent)
            rows.append(
                {
                    "public_id": str(uuid.uuid4()),
                    "project_id": copy.project_id,
                    "message_id": copy.message_id,
                    "copy_id": copy_id,
                    "observation_id": observation.id,
                    "type": event_type,
                    "at": _at(observation.at_us),
                    "recipient": copy.recipient,
                    "link_index": index,
                    "url": url,
                    "anchor_text": anchor,
                    "first": first,
                    "classification": verdict.classification.value,
                    "probability": verdict.probability,
                    "proxy_type": verdict.proxy_type,
                    "family": verdict.family,
                    "reason_codes": list(verdict.reason_codes),
                    "details": list(verdict.details),
                    "machine": verdict.machine,
                    "counts_for_metrics": verdict.counts_for_metrics,
                    "device_type": facts.device_type,
                    "client_type": facts.client_type,
                    "client_name": facts.client_name,
                    "user_agent": observation.user_agent,
                    "data": {"honeypot": True} if observation.kind == 3 else {},
                }
            )
    return rows
