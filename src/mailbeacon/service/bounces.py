"""Recording a bounce: ``message.hard_bounced`` or ``message.soft_bounced`` with the
receiving server's reply, its counter, and for a failure about the address a suppression
(core/bounces/failures.py decides).

Two ways in: the outbound queue's own refusals (in band, workers/outbound.py, in its
transaction) and bounces that come back later to a copy's VERP return path through the SMTP
relay (out of band, :func:`receive`). A copy is bounced once: a second report of the same
failure (MTAs retry, people forward) records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from ..core.bounces import dsn, verp
from ..core.bounces.failures import Failure, suppresses
from ..core.events import Event
from ..core.instrumentation.tokens import TokenCodec
from ..core.suppressions import normal_address
from ..store import recipients, rollups, suppressions
from ..store.db import Database
from ..store.ids import new_id
from . import events

__all__ = ["receive", "record"]


def record(
    conn: Connection,
    copy: recipients.CopyFacts,
    failure: Failure,
    now: datetime,
    *,
    out_of_band: bool,
    attempts: int | None = None,
) -> bool:
    """The bounce of ``copy``, in the caller's transaction; whether it was recorded (not a
    repeat)."""
    if recipients.had_event(conn, copy.copy_id, failure.event):
        return False
    data: dict[str, object] = {
        "response": failure.reply,
        "status": failure.status or None,
        "permanent": failure.permanent,
        "out_of_band": out_of_band,
    }
    if attempts is not None:
        data["attempts"] = attempts
    event = Event(
        public_id=new_id(),
        project_id=copy.project_id,
        message_id=copy.message_id,
        copy_id=copy.copy_id,
        type=failure.event,
        at=now,
        recipient=copy.recipient,
        data=data,
    )
    counters = rollups.Deltas()
    counter = "hard_bounced" if failure.permanent else "soft_bounced"
    counters.bump(rollups.key(copy.project_id, copy.route_id, copy.tag, now.date()), **{counter: 1})
    events.record(conn, [event], now, counters)
    if suppresses(failure):
        # The address does not exist for any project of the team: suppressed team-wide.
        new = suppressions.NewSuppression(
            normal_address(copy.recipient),
            "hard_bounce",
            "team",
            "all",
            source_message_id=copy.message_id,
        )
        suppressions.add(conn, copy.team_id, [new], now)
    return True


def receive(
    db: Database,
    codec: TokenCodec,
    domain: str,
    rcpt_tos: Sequence[str],
    raw: bytes,
    now: datetime,
) -> int:
    """A bounce that arrived at return paths ``rcpt_tos``: how many copies it bounced."""
    failures = dsn.read_bounce(raw)
    if not failures:
        return 0
    done = 0
    with db.write() as conn:
        for address in rcpt_tos:
            copy_id = verp.copy_of(codec, address, domain)
            copy = recipients.copy_facts(conn, copy_id) if copy_id is not None else None
            if copy is None:
                continue
            failure = _about(failures, copy.recipient)
            if record(conn, copy, failure, now, out_of_band=True):
                done += 1
    return done


def _about(failures: Sequence[Failure], recipient: str) -> Failure:
    """The failure reported for ``recipient`` (a report may list several; the return path
    names the copy, so one that names no one is the copy's)."""
    wanted = recipient.lower()
    for failure in failures:
        if failure.recipient is not None and failure.recipient.lower() == wanted:
            return failure
    return failures[0]
