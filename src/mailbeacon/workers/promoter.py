"""The promoter: observations become events, each with its verdict, and the counters move.

Observations wait a settle window (MAILBEACON_SETTLE_SECONDS) so that a scanner's burst over
all links is seen whole before its first click is judged. Then, per pass, in one transaction:
the settled observations are grouped by recipient copy and classified together with that
copy's earlier hits (core/classify.py), given their user agent's facts, written as
``message.opened`` / ``message.clicked`` events (``first`` counted over human-countable events
only) with their webhook deliveries (store/webhooks.py), added to the daily counters
(store/rollups.py), and marked promoted. Each event keeps its observation id (unique), so a
pass that dies half-way is simply done again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, select

from ..core.classify import Hit, Verdict, classify
from ..core.networks import NetworkTable
from ..core.useragent import client_facts
from ..store import events as event_store
from ..store import networks as network_store
from ..store import observations, rollups, webhooks
from ..store.ids import new_id
from ..store.observations import KIND_CLICK, KIND_NAMES, KIND_OPEN, Observation
from ..store.schema import copies, events, links, messages
from . import pause

if TYPE_CHECKING:
    from ..app import Services

__all__ = ["Promoter", "promote_settled", "promoter_worker"]

log = logging.getLogger(__name__)

BATCH = 5000
IDLE_SECONDS = 0.5
CONTEXT = timedelta(minutes=10)  # earlier hits of a copy that a burst may include
NETWORKS_REFRESH = 60.0  # seconds between re-reading imported network lists


async def promoter_worker(services: Services, stop: asyncio.Event) -> None:
    promoter = Promoter(services)
    while not stop.is_set():
        try:
            done = await asyncio.to_thread(promoter.run_once)
        except Exception:
            log.exception("promotion pass failed; retrying")
            done = 0
        if done < BATCH:
            await pause(stop, IDLE_SECONDS)


def promote_settled(services: Services, *, limit: int = BATCH) -> int:
    """One pass (for tests and tools): how many observations were promoted."""
    return Promoter(services).run_once(limit=limit)


@dataclass(frozen=True, slots=True)
class _CopyContext:
    message_id: int
    project_id: int
    route_id: int | None
    tag: str | None
    recipient: str
    delivered_at: datetime | None
    link_count: int


class Promoter:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._networks: NetworkTable | None = None
        self._networks_at = 0.0

    def networks(self, conn: Connection) -> NetworkTable:
        if self._networks is None or time.monotonic() - self._networks_at > NETWORKS_REFRESH:
            self._networks = network_store.load_table(conn)
            self._networks_at = time.monotonic()
        return self._networks

    def run_once(self, *, limit: int = BATCH) -> int:
        now = self.services.clock.now()
        upto_us = _micros(now - timedelta(seconds=self.services.settings.settle_seconds))
        with self.services.db.write() as conn:
            found = observations.settled(
                conn, upto_us, limit, skip_locked=not self.services.db.is_sqlite
            )
            if not found:
                return 0
            rows, deltas = self._judge(conn, found)
            event_store.insert_many(conn, rows)
            webhooks.enqueue_events(conn, rows, now)
            rollups.add(conn, deltas)
            observations.mark_promoted(conn, [o.id for o in found])
        return len(found)

    def _judge(
        self, conn: Connection, found: list[Observation]
    ) -> tuple[list[dict[str, Any]], rollups.Deltas]:
        copy_ids = sorted({o.copy_id for o in found})
        context = _contexts(conn, copy_ids)
        clicked = {o.copy_id for o in found if o.kind == KIND_CLICK}
        destinations = _destinations(
            conn, {c.message_id for i, c in context.items() if i in clicked}
        )
        seen = _seen(conn, copy_ids)
        earlier = _earlier(conn, copy_ids, _at(min(o.at_us for o in found)) - CONTEXT)
        table = self.networks(conn)
        by_copy: dict[int, list[Observation]] = defaultdict(list)
        for observation in found:
            by_copy[observation.copy_id].append(observation)
        rows: list[dict[str, Any]] = []
        deltas = rollups.Deltas()
        for copy_id, group in by_copy.items():
            copy = context.get(copy_id)
            if copy is None:
                continue  # the copy is gone (retention): nothing to attach the hit to
            # The copy's already promoted hits of the last minutes are context: a burst may
            # straddle two passes.
            before = [_hit(o, copy) for o in earlier.get(copy_id, ())]
            verdicts = classify(
                [_hit(o, copy) for o in group],
                networks=table,
                link_count=copy.link_count,
                context=before,
            )
            for observation, verdict in zip(group, verdicts, strict=True):
                rows.append(_event(observation, verdict, copy, copy_id, destinations, seen, deltas))
        return rows, deltas


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def _contexts(conn: Connection, copy_ids: list[int]) -> dict[int, _CopyContext]:
    link_counts = (
        select(links.c.message_id, func.count().label("n")).group_by(links.c.message_id).subquery()
    )
    rows = conn.execute(
        select(
            copies.c.id,
            copies.c.message_id,
            copies.c.recipient,
            copies.c.delivered_at,
            messages.c.project_id,
            messages.c.route_id,
            messages.c.tag,
            func.coalesce(link_counts.c.n, 0).label("link_count"),
        )
        .join(messages, messages.c.id == copies.c.message_id)
        .outerjoin(link_counts, link_counts.c.message_id == copies.c.message_id)
        .where(copies.c.id.in_(copy_ids))
    )
    return {
        r.id: _CopyContext(
            r.message_id,
            r.project_id,
            r.route_id,
            r.tag,
            r.recipient,
            r.delivered_at,
            int(r.link_count),
        )
        for r in rows
    }


def _destinations(
    conn: Connection, message_ids: set[int]
) -> dict[tuple[int, int], tuple[str, str]]:
    if not message_ids:
        return {}
    rows = conn.execute(
        select(links.c.message_id, links.c.link_index, links.c.url, links.c.anchor_text).where(
            links.c.message_id.in_(message_ids)
        )
    )
    return {(r.message_id, r.link_index): (r.url, r.anchor_text) for r in rows}


def _seen(conn: Connection, copy_ids: list[int]) -> set[tuple[int, str]]:
    """What each copy already has: (copy, type) for any event, (copy, "countable " + type)
    and (copy, "engaged") for human-countable ones."""
    found: set[tuple[int, str]] = set()
    rows = conn.execute(
        select(events.c.copy_id, events.c.type, events.c.counts_for_metrics)
        .where(
            and_(
                events.c.copy_id.in_(copy_ids),
                events.c.type.in_(("message.opened", "message.clicked")),
            )
        )
        .distinct()
    )
    for row in rows:
        found.add((row.copy_id, row.type))
        if row.counts_for_metrics:
            found.add((row.copy_id, "countable " + row.type))
            found.add((row.copy_id, "engaged"))
    return found


def _earlier(
    conn: Connection, copy_ids: list[int], since: datetime
) -> dict[int, list[Observation]]:
    grouped: dict[int, list[Observation]] = defaultdict(list)
    for observation in observations.for_copies(conn, copy_ids, since):
        grouped[observation.copy_id].append(observation)
    return grouped


def _hit(observation: Observation, copy: _CopyContext) -> Hit:
    return Hit(
        kind=KIND_NAMES[observation.kind],
        method=observation.method,
        user_agent=observation.user_agent,
        at=_at(observation.at_us),
        sent_at=copy.delivered_at,
        link_index=observation.link_index if observation.kind == KIND_CLICK else None,
        ip=observation.ip,
        headers=json.loads(observation.headers),
    )


def _event(
    observation: Observation,
    verdict: Verdict,
    copy: _CopyContext,
    copy_id: int,
    destinations: dict[tuple[int, int], tuple[str, str]],
    seen: set[tuple[int, str]],
    deltas: rollups.Deltas,
) -> dict[str, Any]:
    opened = observation.kind == KIND_OPEN
    event_type = "message.opened" if opened else "message.clicked"
    at = _at(observation.at_us)
    first = None
    if verdict.counts_for_metrics:
        first = (copy_id, "countable " + event_type) not in seen
        seen.add((copy_id, "countable " + event_type))
    _count(
        deltas,
        rollups.key(copy.project_id, copy.route_id, copy.tag, at.date()),
        opened,
        verdict,
        first=bool(first),
        first_any=(copy_id, event_type) not in seen,
        first_engaged=verdict.counts_for_metrics and (copy_id, "engaged") not in seen,
    )
    seen.add((copy_id, event_type))
    if verdict.counts_for_metrics:
        seen.add((copy_id, "engaged"))
    url = anchor = None
    index = None
    if observation.kind == KIND_CLICK:
        index = observation.link_index
        url, anchor = destinations.get((copy.message_id, index), (None, None))
    facts = client_facts(observation.user_agent)
    return {
        "public_id": new_id(),
        "project_id": copy.project_id,
        "message_id": copy.message_id,
        "copy_id": copy_id,
        "observation_id": observation.id,
        "type": event_type,
        "at": at,
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
        "data": {"honeypot": True} if observation.kind == observations.KIND_HONEYPOT else {},
    }


def _count(
    deltas: rollups.Deltas,
    at: rollups.Key,
    opened: bool,
    verdict: Verdict,
    *,
    first: bool,
    first_any: bool,
    first_engaged: bool,
) -> None:
    name = "opened" if opened else "clicked"
    counts: dict[str, int] = {}
    if verdict.counts_for_metrics:
        counts[name] = 1
        counts["unique_" + name] = int(first)
        counts["effective_opened"] = int(first_engaged)  # opened, or clicked: it was read
    if verdict.machine:
        counts["machine_" + name] = 1
    counts["unique_any_" + name] = int(first_any)
    if opened and verdict.classification.value == "genuine":
        counts["human_opened"] = 1
    elif opened and verdict.classification.value == "privacy_proxy":
        counts["privacy_opened"] = 1
    deltas.bump(at, **counts)
