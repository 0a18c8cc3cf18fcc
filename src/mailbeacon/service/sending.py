"""Sending, as the entry points ask for it: accept messages at most once per idempotency key.

A module of its own, beside service/accept.py (which stores one message, and which
service/context.py imports): this is what the Lettermint and Lettr APIs and the SMTP relay
call, with the :class:`Services` they hold, so none of them passes the instrumenter, the
database or the link cache by hand.

**A batch** (Lettermint's ``/send/batch``) follows two rules:

- an item with its own idempotency key is sent as if alone with that key (``item_scope``,
  the scope of a single send), so a later single send or batch item with that key replays it;
- the other items are accepted together, in one transaction, under the batch's own key.

If an item cannot be accepted, what was accepted before it stays accepted (keyed items commit
one by one): :class:`BatchInterrupted` says which, so the caller can tell the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..core.errors import (
    AcceptError,
    BatchInterrupted,
    IdempotencyConflict,
    IdempotencyInFlight,
    Refused,
)
from ..store import idempotency, tenancy
from .accept import Accepted, Intake, store_message
from .context import Services

__all__ = ["BatchItem", "Sent", "send", "send_batch"]

Respond = Callable[[list[Accepted]], tuple[int, Any]]


class Sent(NamedTuple):
    status: int  # what respond() said, or what the first request with this key was answered
    body: Any
    replayed: bool  # True: an earlier request with this key was answered so


def send(
    services: Services,
    project: tenancy.Project,
    intakes: list[Intake],
    now: datetime,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    respond: Respond,
) -> Sent:
    """Accept ``intakes`` (one message, or a batch, all or none) at most once per ``key`` in
    ``scope``; ``respond(accepted)`` makes the (status, body) to answer and to replay.

    All messages are stored in one transaction. Once it is committed, the link cache hears
    of each (Services.accepted): their first clicks need not wait for the database.
    """
    limit = services.settings.max_message_bytes
    for index, intake in enumerate(intakes):
        if len(intake.raw) > limit:  # the relay refuses the same size (SIZE, 552)
            where = f" (message {index})" if len(intakes) > 1 else ""
            raise Refused(
                f"The message{where} is {len(intake.raw)} bytes once composed; the largest "
                f"accepted is {limit} (MAILBEACON_MAX_MESSAGE_BYTES).",
                status=413,
                code="message_too_large",
            )
    instrumenter = services.instrumenter
    plans = [instrumenter.plan(intake.raw) for intake in intakes]  # pure: outside the lock
    with services.db.write() as conn:
        claim = None
        if key is not None:
            claim = idempotency.begin(conn, project.id, scope, key, request_hash, now)
            if claim.outcome is idempotency.Outcome.REPLAY:
                return Sent(int(claim.status_code or 200), claim.response, True)
            if claim.outcome is idempotency.Outcome.CONFLICT:
                raise IdempotencyConflict("This Idempotency-Key was used with a different message.")
            if claim.outcome is idempotency.Outcome.IN_FLIGHT:
                raise IdempotencyInFlight(
                    "A request with this Idempotency-Key is still being processed."
                )
        accepted = [
            store_message(conn, instrumenter, plan, project, intake, now)
            for plan, intake in zip(plans, intakes, strict=True)
        ]
        status, body = respond(accepted)
        if claim is not None and claim.key_id is not None:
            idempotency.finish(conn, claim.key_id, status, body)
        tenancy.touch_sending_token(conn, project.id, now)
    for item in accepted:
        services.accepted(item)
    return Sent(status, body, False)


@dataclass(frozen=True, slots=True)
class BatchItem:
    intake: Intake
    key: str | None = None  # the item's own idempotency key
    request_hash: str = ""  # of the item alone: what a later use of its key must match


def send_batch(
    services: Services,
    project: tenancy.Project,
    items: Sequence[BatchItem],
    now: datetime,
    *,
    scope: str,
    item_scope: str,
    key: str | None,
    request_hash: str,
    status: int,
    answer: Callable[[Accepted], Any],
) -> list[Any]:
    """Each item's answer (``answer(accepted)``, or its key's replay), in order; ``status``
    is what is stored with them for replays. Item keys must be unique (the caller checks)."""
    responses: list[Any] = [None] * len(items)
    fresh = [i for i, item in enumerate(items) if item.key is None]
    try:
        for index, item in enumerate(items):
            if item.key is None:
                continue
            responses[index] = send(
                services,
                project,
                [item.intake],
                now,
                scope=item_scope,
                key=item.key,
                request_hash=item.request_hash,
                respond=lambda accepted: (status, answer(accepted[0])),
            ).body
        if fresh:
            created = send(
                services,
                project,
                [items[i].intake for i in fresh],
                now,
                scope=scope,
                key=key,
                request_hash=request_hash,
                respond=lambda accepted: (status, [answer(a) for a in accepted]),
            ).body
            for index, response in zip(fresh, created, strict=True):
                responses[index] = response
    except AcceptError as exc:
        done = [(i, r) for i, r in enumerate(responses) if r is not None]
        raise BatchInterrupted(
            str(exc), status=exc.status, code=exc.code, field=exc.field, accepted=done
        ) from exc
    return responses
