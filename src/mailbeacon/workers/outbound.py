"""The outbound queue: every recipient's copy to the upstream, retried on temporary failures.

A pass leases due copies (status queued, or processed with an expired lease: a worker that
died), sends them with bounded concurrency, and records each outcome with its event:
``message.sent`` when the upstream took it (or it was captured), ``message.failed`` when the
upstream refused it for good or the retry schedule ran out. Temporary failures go back to the
queue with the next delay of the schedule. Several workers may share the queue: on PostgreSQL
leases are taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from ..core.retry import OUTBOUND_SCHEDULE, next_delay
from ..smtp.upstream import Outcome, Result, Sender, make_sender
from ..store import events, messages
from . import pause

if TYPE_CHECKING:
    from ..app import Services

__all__ = ["deliver_due", "outbound_worker"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
IDLE_SECONDS = 0.2


async def outbound_worker(services: Services, stop: asyncio.Event) -> None:
    sender = make_sender(services.settings.upstream)
    log.info("outbound queue: delivering to %s", sender.name)
    while not stop.is_set():
        try:
            done = await deliver_due(services, sender)
        except Exception:
            log.exception("outbound pass failed; retrying")
            done = 0
        if done == 0:
            await pause(stop, IDLE_SECONDS)


async def deliver_due(services: Services, sender: Sender, *, limit: int | None = None) -> int:
    """One pass over the due copies; how many were attempted."""
    concurrency = services.settings.outbound_concurrency
    now = services.clock.now()
    db = services.db

    def claim() -> list[messages.Outgoing]:
        with db.write() as conn:
            return messages.claim_due(
                conn, now, now + LEASE, limit or concurrency * 4, skip_locked=not db.is_sqlite
            )

    batch = await asyncio.to_thread(claim)
    if not batch:
        return 0
    gate = asyncio.Semaphore(concurrency)

    async def one(item: messages.Outgoing) -> None:
        async with gate:
            try:
                result = await sender.send(item.sender, item.recipient, item.raw)
            except Exception as exc:  # a bug in a sender must not lose the copy
                log.exception("sender failed")
                result = Result(Outcome.TEMPORARY, f"{type(exc).__name__}: {exc}")
        await asyncio.to_thread(_record, services, item, result)

    await asyncio.gather(*(one(item) for item in batch))
    return len(batch)


def _record(services: Services, item: messages.Outgoing, result: Result) -> None:
    now = services.clock.now()
    with services.db.write() as conn:
        attempts = item.attempts + 1
        if result.outcome in (Outcome.DELIVERED, Outcome.CAPTURED):
            status = "delivered" if result.outcome is Outcome.DELIVERED else "captured"
            messages.finish_copy(conn, item.copy_id, now, status=status)
            event = "message.sent"
            data: dict[str, object] = {
                "upstream": "capture" if status == "captured" else "smtp",
                "response": result.detail,
            }
        else:
            delay = None
            if result.outcome is Outcome.TEMPORARY:
                delay = next_delay(OUTBOUND_SCHEDULE, attempts)
            if delay is not None:
                messages.finish_copy(
                    conn,
                    item.copy_id,
                    now,
                    status="queued",
                    error=result.detail,
                    next_attempt_at=now + delay,
                )
                messages.refresh_message_status(conn, item.message_id, now)
                return
            messages.finish_copy(conn, item.copy_id, now, status="failed", error=result.detail)
            event = "message.failed"
            data = {
                "reason": result.detail,
                "attempts": attempts,
                "permanent": result.outcome is Outcome.PERMANENT,
            }
        messages.refresh_message_status(conn, item.message_id, now)
        events.insert_event(
            conn,
            events.NewEvent(
                project_id=item.project_id,
                message_id=item.message_id,
                copy_id=item.copy_id,
                type=event,
                at=now,
                recipient=item.recipient,
                data=data,
            ),
        )
