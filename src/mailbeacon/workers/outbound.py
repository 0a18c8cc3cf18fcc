"""The outbound queue: every recipient's copy to the upstream, retried on temporary failures.

A pass leases due copies (status queued, or processed with an expired lease: a worker that
died), marks their messages processed, sends the copies with bounded concurrency, and records
each outcome with its event: ``message.sent`` when the upstream took it (or it was captured),
``message.failed`` when the upstream refused it for good or the retry schedule ran out, with
``message.hard_bounced`` (a 5xx reply) or ``message.soft_bounced`` (4xx replies until the
schedule ran out) carrying the reply (service/bounces.py: a hard bounce about the address
suppresses it).
Temporary failures go back to the queue with the next delay of the schedule. Several workers
may share the queue: on PostgreSQL leases are taken with ``FOR UPDATE SKIP LOCKED``.

A lease must outlive the work it covers, or another worker would send the copy a second time
while this one still holds it; and a crashed worker's copies wait until it runs out. So the
lease is short (a minute) and renewed while the pass runs (workers/leases.py), every send has
a deadline (:data:`SEND_DEADLINE`, connection and TLS included), and each copy's outcome is
recorded under the lease it holds then: a worker that lost its lease (stalled past it, its
copy taken over) records nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from ..clock import Clock
from ..config import Upstream
from ..core.bounces.failures import from_reply
from ..core.events import Event
from ..core.retry import OUTBOUND_SCHEDULE, next_delay
from ..memory import after_large
from ..service import bounces, events
from ..smtp.upstream import Outcome, Result, Sender, make_sender
from ..store import messages, recipients, rollups
from ..store.db import Database
from ..store.ids import new_id
from . import pause
from .leases import LEASE, Leases, renewal_interval

__all__ = ["deliver_due", "outbound_worker"]

log = logging.getLogger(__name__)

SEND_DEADLINE = timedelta(minutes=3)  # one attempt at one copy, from connect to the reply
ROUNDS = 2  # copies claimed per concurrent slot: keeps the slots busy while a send is slow
IDLE_SECONDS = 0.2


async def outbound_worker(
    db: Database,
    clock: Clock,
    upstream: Upstream,
    concurrency: int,
    stop: asyncio.Event,
    *,
    lease: timedelta = LEASE,  # MAILBEACON_LEASE_SECONDS
) -> None:
    sender = make_sender(upstream, max_connections=concurrency)
    log.info("outbound queue: delivering to %s", sender.name)
    try:
        while not stop.is_set():
            try:
                done = await deliver_due(db, clock, sender, concurrency=concurrency, lease=lease)
            except Exception:
                log.exception("outbound pass failed; retrying")
                done = 0
            if done == 0:
                await pause(stop, IDLE_SECONDS)
    finally:
        await sender.aclose()


async def deliver_due(
    db: Database,
    clock: Clock,
    sender: Sender,
    *,
    concurrency: int,  # MAILBEACON_OUTBOUND_CONCURRENCY
    limit: int | None = None,
    lease: timedelta = LEASE,
    renew_every: float | None = None,  # default: a third of the lease, at most RENEW_EVERY
) -> int:
    """One pass over the due copies; how many were attempted."""
    limit = limit or concurrency * ROUNDS
    now = clock.now()
    lease_until = now + lease
    every = renew_every if renew_every is not None else renewal_interval(lease)
    batch = await asyncio.to_thread(_claim, db, now, lease_until, limit)
    if not batch:
        return 0
    gate = asyncio.Semaphore(concurrency)

    def renew(ids: Sequence[int], held: datetime, until: datetime) -> set[int]:
        with db.write() as conn:
            return messages.renew_leases(conn, ids, held, until)

    held = {item.copy_id: item.lease_until for item in batch}
    async with Leases(clock, renew, held, length=lease, every=every) as leases:
        outcomes = await asyncio.gather(
            *(_one(db, clock, sender, gate, leases, item) for item in batch),
            return_exceptions=True,
        )
    after_large(max(len(item.raw) for item in batch))  # memory.py
    for outcome in outcomes:
        if isinstance(outcome, BaseException):  # the others were recorded: report the first
            raise outcome
    return len(batch)


async def _one(
    db: Database,
    clock: Clock,
    sender: Sender,
    gate: asyncio.Semaphore,
    leases: Leases,
    item: messages.Outgoing,
) -> None:
    if item.attempts > len(OUTBOUND_SCHEDULE) + 1:
        # Claimed again and again without an outcome: sending it kills the worker.
        result = Result(
            Outcome.PERMANENT,
            f"gave up after {item.attempts - 1} attempts that ended without an outcome",
        )
    else:
        async with gate:
            result = await _attempt(sender, item)
    lease = await leases.release(item.copy_id)
    await asyncio.to_thread(_record, db, clock.now(), item, result, lease)


async def _attempt(sender: Sender, item: messages.Outgoing) -> Result:
    try:
        async with asyncio.timeout(SEND_DEADLINE.total_seconds()):
            return await sender.send(item.sender, item.recipient, item.raw)
    except TimeoutError:
        return Result(Outcome.TEMPORARY, f"no answer within {SEND_DEADLINE.total_seconds():g} s")
    except Exception as exc:  # a bug in a sender must not lose the copy
        log.exception("sender failed")
        return Result(Outcome.TEMPORARY, f"{type(exc).__name__}: {exc}")


def _claim(
    db: Database, now: datetime, lease_until: datetime, limit: int
) -> list[messages.Outgoing]:
    with db.write() as conn:
        batch = messages.claim_due(conn, now, lease_until, limit, skip_locked=not db.is_sqlite)
        for message_id in sorted({item.message_id for item in batch}):  # one lock order
            messages.refresh_message_status(conn, message_id, now)
    return batch


def _record(
    db: Database, now: datetime, item: messages.Outgoing, result: Result, lease: datetime
) -> None:
    """The outcome, if the copy is still ours under ``lease`` (the one the pass holds now)."""
    attempts = item.attempts  # the claim counted this attempt
    with db.write() as conn:
        if result.outcome in (Outcome.DELIVERED, Outcome.CAPTURED):
            status = "delivered" if result.outcome is Outcome.DELIVERED else "captured"
            if not messages.finish_copy(conn, item.copy_id, now, status=status, lease=lease):
                return  # our lease ran out: the copy is someone else's now
            event = "message.sent"
            data: dict[str, object] = {
                "upstream": "capture" if status == "captured" else "smtp",
                "response": result.detail,
                "attempts": attempts,
            }
        else:
            delay = None
            if result.outcome is Outcome.TEMPORARY:
                delay = next_delay(OUTBOUND_SCHEDULE, attempts)
            if delay is not None:
                if messages.finish_copy(
                    conn,
                    item.copy_id,
                    now,
                    status="queued",
                    error=result.detail,
                    next_attempt_at=now + delay,
                    lease=lease,
                ):
                    messages.refresh_message_status(conn, item.message_id, now)
                return
            if not messages.finish_copy(
                conn,
                item.copy_id,
                now,
                status="failed",
                error=result.detail,
                lease=lease,
            ):
                return
            event = "message.failed"
            data = {
                "reason": result.detail,
                "attempts": attempts,
                "permanent": result.outcome is Outcome.PERMANENT,
            }
        messages.refresh_message_status(conn, item.message_id, now)
        deltas = rollups.Deltas()
        deltas.bump(
            rollups.key(item.project_id, item.route_id, item.tag, now.date()),
            **{"sent" if event == "message.sent" else "failed": 1},
        )
        recorded = Event(
            public_id=new_id(),
            project_id=item.project_id,
            message_id=item.message_id,
            copy_id=item.copy_id,
            type=event,
            at=now,
            recipient=item.recipient,
            data=data,
        )
        # In the same transaction: a recorded event always reaches its webhooks and counters.
        events.record(conn, [recorded], now, deltas)
        if event == "message.failed" and _bounced(result):
            copy = recipients.copy_facts(conn, item.copy_id)
            assert copy is not None  # we hold its lease: it exists
            failure = from_reply(result.detail, permanent=result.outcome is Outcome.PERMANENT)
            bounces.record(conn, copy, failure, now, out_of_band=False, attempts=attempts)


def _bounced(result: Result) -> bool:
    """A bounce is a refusal the SMTP server replied: a 5xx, or 4xx replies until the schedule
    ran out. A failure with no reply (the upstream unreachable for the whole schedule, a
    timeout) or of our own (SMTPUTF8 not offered, a copy that kept killing the worker) is a
    failure, not a bounce: it says nothing about the recipient."""
    first = "5" if result.outcome is Outcome.PERMANENT else "4"
    return result.detail[:1] == first and result.detail[:3].isdigit()
