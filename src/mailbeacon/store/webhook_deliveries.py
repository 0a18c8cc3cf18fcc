"""The webhook outbox: claiming what is due, recording each attempt, and the delivery log.

A delivery is due while ``next_retry_at`` has passed and no dispatcher holds its lease. A
claim leases a batch (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so workers share the
outbox without waiting on each other or taking the same rows); a lease that runs out (the
dispatcher died) makes the rows due again. Delivery is therefore at least once, and the
receiver sees the same id on a repeat.

Recording an attempt updates the delivery (status, next try or none, the last answer), adds
it to ``webhook_attempts``, and:

- a 410 turns the webhook off and gives up its other pending deliveries;
- a failure of the endpoint itself (timeout, connection error, 5xx, 429) holds its other due
  deliveries back until the failed one's next try, so a receiver that is down costs one
  request per retry step rather than one per queued event, and does not crowd others out
  of the outbox's head (claims read the oldest due rows first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)

from ..core.webhooks.delivery import Decision
from .queries import Seek, Slice, _seek  # the same keyset pages as messages and events
from .schema import projects, routes, webhook_attempts, webhooks
from .schema import webhook_deliveries as deliveries

__all__ = [
    "AttemptRecord",
    "DeliveryFilter",
    "DeliveryRecord",
    "Due",
    "LastOutcomes",
    "Outcome",
    "attempts_of",
    "cancel_pending",
    "claim_due",
    "delivery_cursor_id",
    "delivery_for_webhook",
    "delivery_page",
    "last_outcomes",
    "record",
    "record_and_claim",
    "renew_leases",
    "retry",
]

SCAN = 8  # a claim reads this many times its limit of the oldest due rows to choose from


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery and what sending it needs."""

    id: int
    public_id: str
    webhook_id: int
    url: str
    secret: str
    basic_auth: tuple[str, str] | None
    event_type: str
    body: bytes
    attempts_made: int


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        deliveries.c.next_retry_at <= now,
        or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
    )


def claim_due(
    conn: Connection,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    room: Callable[[int], int],
    skip_locked: bool,
    per_webhook: int | None = None,
) -> list[Due]:
    """Lease up to ``limit`` due deliveries, oldest first, at most ``room(webhook_id)`` of
    each webhook (the dispatcher's bound on one endpoint's deliveries in flight), and with
    ``per_webhook``, no more than that many of one webhook leased at once by all dispatchers
    together (the deployment's bound: MAILBEACON_WEBHOOK_CONCURRENCY_PER_ENDPOINT). For that
    the claim locks the webhooks' rows (PostgreSQL; SQLite's writers are one at a time),
    in id order, and counts their deliveries leased now: two dispatchers claiming for one
    endpoint take turns, and the second sees what the first leased.

    The oldest due rows are read without locks and chosen; only the chosen ones are then
    leased, in one statement that also returns them, if they are still due and (``SKIP
    LOCKED`` on PostgreSQL) no other worker holds them: another worker's are passed over,
    not waited for, and a claim never holds rows it does not take."""
    candidates = _candidates(conn, now, limit)
    chosen = _choose(conn, now, candidates, limit, room, per_webhook, lock=skip_locked)
    return _lease(conn, now, lease_until, chosen, skip_locked=skip_locked)


def record_and_claim(
    conn: Connection,
    outcomes: Sequence[Outcome],
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    room: Callable[[int], int],
    skip_locked: bool,
    per_webhook: int | None = None,
) -> list[Due]:
    """Record ``outcomes`` (as :func:`record`) and lease up to ``limit`` due deliveries in
    their place (as :func:`claim_due`), in one transaction: a slot an attempt frees is
    taken again without a round trip of its own. The claim comes after the record, so it
    counts the recorded deliveries' leases as given back, sees a webhook a 410 turned off
    and an endpoint's deliveries held back after a failure. On PostgreSQL the webhooks'
    rows (the recorded ones' and the candidates') are locked first, in one statement in id
    order, as :func:`claim_due` locks them: a record that locked its webhooks before a claim
    locked more could deadlock with another dispatcher doing the same."""
    candidates = _candidates(conn, now, limit)
    if skip_locked:
        touched = {o.webhook_id for o in outcomes}
        _lock_webhooks(conn, sorted(touched | {w for _, w in candidates}))
    record(conn, outcomes, now)
    chosen = _choose(conn, now, candidates, limit, room, per_webhook, lock=False)
    return _lease(conn, now, lease_until, chosen, skip_locked=skip_locked)


def _lease(
    conn: Connection, now: datetime, lease_until: datetime, chosen: list[int], *, skip_locked: bool
) -> list[Due]:
    """Lease the ``chosen`` deliveries that are still due (and, with ``skip_locked``, not
    being leased by another dispatcher); what sending them needs."""
    if not chosen:
        return []
    ids: BindParameter[Any] = bindparam("ids", expanding=True)
    which = deliveries.c.id.in_(ids)
    if skip_locked:
        free = select(deliveries.c.id).where(which, _due(now)).with_for_update(skip_locked=True)
        which = deliveries.c.id.in_(free.scalar_subquery())
    lease = (
        update(deliveries)
        .where(which, _due(now))
        .values(lease_until=lease_until)
        .returning(
            deliveries.c.id,
            deliveries.c.public_id,
            deliveries.c.webhook_id,
            deliveries.c.event_type,
            deliveries.c.payload,
            deliveries.c.attempt_number,
        )
    )
    leased = sorted(conn.execute(lease, {"ids": chosen}), key=lambda row: int(row.id))
    if not leased:
        return []
    targets: Select[Any] = select(
        webhooks.c.id, webhooks.c.url, webhooks.c.secret, webhooks.c.basic_auth, webhooks.c.enabled
    ).where(webhooks.c.id.in_(bindparam("hooks", expanding=True)))
    found = conn.execute(targets, {"hooks": sorted({row.webhook_id for row in leased})})
    hooks: dict[int, Row[Any]] = {row.id: row for row in found}
    # A webhook turned off after its events were queued sends nothing (a test excepted).
    stale = [
        r.id for r in leased if not hooks[r.webhook_id].enabled and r.event_type != "webhook.test"
    ]
    if stale:
        _give_up(conn, deliveries.c.id.in_(stale), now, "The webhook is disabled.")
    return [_claimed(r, hooks[r.webhook_id]) for r in leased if r.id not in stale]


def _candidates(conn: Connection, now: datetime, limit: int) -> list[tuple[int, int]]:
    """The ``limit * SCAN`` oldest due deliveries, read without locks: (id, webhook id)."""
    scan = (
        select(deliveries.c.id, deliveries.c.webhook_id)
        .where(_due(now))
        .order_by(deliveries.c.next_retry_at)
        .limit(limit * SCAN)
    )
    return [(int(r[0]), int(r[1])) for r in conn.execute(scan)]


def _choose(
    conn: Connection,
    now: datetime,
    candidates: list[tuple[int, int]],
    limit: int,
    room: Callable[[int], int],
    per_webhook: int | None,
    *,
    lock: bool,
) -> list[int]:
    """Of the ``candidates``, the ones a claim takes, oldest first."""
    left: dict[int, int] = {}
    if per_webhook is not None and candidates:
        leased = _leased(conn, now, sorted({w for _, w in candidates}), lock=lock)
        left = {w: min(room(w), per_webhook - leased.get(w, 0)) for _, w in candidates}
    chosen: list[int] = []
    for delivery_id, webhook_id in candidates:
        if webhook_id not in left:
            left[webhook_id] = room(webhook_id)
        if left[webhook_id] > 0:
            left[webhook_id] -= 1
            chosen.append(delivery_id)
            if len(chosen) == limit:
                break
    return chosen


def _leased(
    conn: Connection, now: datetime, webhook_ids: list[int], *, lock: bool
) -> dict[int, int]:
    """How many deliveries of each webhook some dispatcher holds now; with ``lock``, the
    webhooks' rows stay locked to the end of the claim (in id order: no deadlock)."""
    if lock:
        _lock_webhooks(conn, webhook_ids)
    counted = conn.execute(
        select(deliveries.c.webhook_id, func.count())
        .where(deliveries.c.webhook_id.in_(webhook_ids), deliveries.c.lease_until > now)
        .group_by(deliveries.c.webhook_id)
    )
    return {int(webhook_id): int(n) for webhook_id, n in counted}


def _lock_webhooks(conn: Connection, webhook_ids: list[int]) -> None:
    """Lock the webhooks' rows to the end of the transaction, in id order (no deadlock)."""
    conn.execute(
        select(webhooks.c.id)
        .where(webhooks.c.id.in_(webhook_ids))
        .order_by(webhooks.c.id)
        .with_for_update()
    ).all()


def _claimed(row: Row[Any], hook: Row[Any]) -> Due:
    auth = hook.basic_auth
    return Due(
        id=row.id,
        public_id=row.public_id,
        webhook_id=row.webhook_id,
        url=hook.url,
        secret=hook.secret,
        basic_auth=(auth["username"], auth["password"]) if auth else None,
        event_type=row.event_type,
        body=row.payload.encode(),
        attempts_made=row.attempt_number,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt, as the dispatcher saw it and core.webhooks.decide judged it."""

    delivery_id: int
    webhook_id: int
    attempt_number: int  # this attempt's, from 1
    at: datetime
    decision: Decision
    http_status_code: int | None
    duration_ms: int
    response_body: str | None
    response_headers: list[str] | None


def renew_leases(
    conn: Connection, delivery_ids: Sequence[int], held: datetime, lease_until: datetime
) -> set[int]:
    """Move the lease of the deliveries still leased as ``held`` to ``lease_until``; the ids
    moved (one recorded, or taken over after its lease ran out, is not)."""
    moved = conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.lease_until == held)
        .values(lease_until=lease_until)
        .returning(deliveries.c.id)
    )
    return {int(row.id) for row in moved}


def record(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Record a pass's attempts in one transaction (see the module docs)."""
    if not outcomes:
        return
    updated = conn.execute(
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempt_number=bindparam("b_attempt"),
            next_retry_at=bindparam("b_next"),
            lease_until=None,
            http_status_code=bindparam("b_code"),
            duration_ms=bindparam("b_duration"),
            response_body=bindparam("b_body"),
            response_headers=bindparam("b_headers", type_=deliveries.c.response_headers.type),
            error_message=bindparam("b_error"),
            delivered_at=func.coalesce(bindparam("b_delivered"), deliveries.c.delivered_at),
            updated_at=now,
        ),
        [_update(o) for o in outcomes],
    ).rowcount
    kept = list(outcomes)
    if updated != len(outcomes) or not conn.dialect.supports_sane_multi_rowcount:
        # A deleted webhook took its deliveries and their log along; the rows that were
        # updated are locked by now, so what is present stays present until the commit.
        present_ids = select(deliveries.c.id).where(
            deliveries.c.id.in_(bindparam("ids", expanding=True))
        )
        ids = [o.delivery_id for o in outcomes]
        present = set(conn.execute(present_ids, {"ids": ids}).scalars())
        kept = [o for o in outcomes if o.delivery_id in present]
        if not kept:
            return
    conn.execute(webhook_attempts.insert(), [_attempt(o) for o in kept])
    touched = sorted({o.webhook_id for o in kept})
    conn.execute(update(webhooks).where(webhooks.c.id.in_(touched)).values(last_called_at=now))
    gone = sorted({o.webhook_id for o in kept if o.decision.disable})
    if gone:
        reason = next(o.decision.error for o in kept if o.decision.disable)
        conn.execute(
            update(webhooks)
            .where(webhooks.c.id.in_(gone))
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        cancel_pending(conn, gone, now, reason or "The webhook was disabled.")
    _hold_back(conn, kept, now)


def _update(outcome: Outcome) -> dict[str, Any]:
    decision = outcome.decision
    return {
        "b_id": outcome.delivery_id,
        "b_status": decision.status,
        "b_attempt": outcome.attempt_number,
        "b_next": outcome.at + decision.retry_in if decision.retry_in is not None else None,
        "b_code": outcome.http_status_code,
        "b_duration": outcome.duration_ms,
        "b_body": outcome.response_body,
        "b_headers": outcome.response_headers,
        "b_error": decision.error,
        "b_delivered": outcome.at if decision.status == "success" else None,
    }


def _attempt(outcome: Outcome) -> dict[str, Any]:
    return {
        "delivery_id": outcome.delivery_id,
        "attempt_number": outcome.attempt_number,
        "at": outcome.at,
        "status": outcome.decision.status,
        "http_status_code": outcome.http_status_code,
        "duration_ms": outcome.duration_ms,
        "response_body": outcome.response_body,
        "error_message": outcome.decision.error,
    }


def _hold_back(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    """An endpoint that failed (and answered nothing right in this pass) gets nothing more
    before the failed delivery's next try."""
    answered = {o.webhook_id for o in outcomes if o.decision.status == "success"}
    until: dict[int, datetime] = {}
    for o in outcomes:
        retry_in = o.decision.retry_in
        if o.decision.endpoint_failing and retry_in is not None and o.webhook_id not in answered:
            moment = o.at + retry_in
            until[o.webhook_id] = min(until.get(o.webhook_id, moment), moment)
    for webhook_id, moment in sorted(until.items()):
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.webhook_id == webhook_id,
                deliveries.c.next_retry_at < moment,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .values(next_retry_at=moment)
        )


def _give_up(conn: Connection, which: ColumnElement[bool], now: datetime, reason: str) -> None:
    conn.execute(
        update(deliveries)
        .where(which, deliveries.c.next_retry_at.is_not(None))
        .values(
            next_retry_at=None,
            lease_until=None,
            status=case((deliveries.c.status == "pending", "failed"), else_=deliveries.c.status),
            error_message=reason,
            updated_at=now,
        )
    )


def cancel_pending(
    conn: Connection, webhook_ids: Sequence[int], now: datetime, reason: str
) -> None:
    """Give up what the webhooks still had to deliver (those in flight are recorded as they
    end, and then go no further)."""
    unleased = or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now)
    _give_up(conn, and_(deliveries.c.webhook_id.in_(webhook_ids), unleased), now, reason)


def retry(conn: Connection, delivery_id: int, now: datetime) -> bool:
    """Make a finished delivery due now (the same id and body); False when it is still
    pending or in flight."""
    done = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.next_retry_at.is_(None),
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        )
        .values(next_retry_at=now, status="pending", updated_at=now)
    )
    return done.rowcount == 1


# --- the log ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    public_id: str
    webhook_id: int
    project_public_id: str | None
    route_public_id: str | None
    event_type: str
    sandbox: bool
    payload: str
    status: str
    attempt_number: int
    next_retry_at: datetime | None
    http_status_code: int | None
    duration_ms: int | None
    response_body: str | None
    response_headers: list[str] | None
    error_message: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    attempt_number: int
    at: datetime
    status: str
    http_status_code: int | None
    duration_ms: int | None
    response_body: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    status: str | None = None
    event_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _with_sources() -> Any:
    return (
        select(
            deliveries,
            projects.c.public_id.label("project_public_id"),
            routes.c.public_id.label("route_public_id"),
        )
        .outerjoin(projects, projects.c.id == deliveries.c.project_id)
        .outerjoin(routes, routes.c.id == deliveries.c.route_id)
    )


def _record(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        public_id=row.public_id,
        webhook_id=row.webhook_id,
        project_public_id=row.project_public_id,
        route_public_id=row.route_public_id,
        event_type=row.event_type,
        sandbox=row.sandbox,
        payload=row.payload,
        status=row.status,
        attempt_number=row.attempt_number,
        next_retry_at=row.next_retry_at,
        http_status_code=row.http_status_code,
        duration_ms=row.duration_ms,
        response_body=row.response_body,
        response_headers=list(row.response_headers) if row.response_headers else None,
        error_message=row.error_message,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def delivery_for_webhook(
    conn: Connection, webhook_id: int, public_id: str
) -> DeliveryRecord | None:
    query = _with_sources().where(
        deliveries.c.webhook_id == webhook_id, deliveries.c.public_id == public_id
    )
    row = conn.execute(query).first()
    return _record(row) if row else None


def delivery_cursor_id(conn: Connection, webhook_id: int, public_id: str) -> int | None:
    query = select(deliveries.c.id).where(
        deliveries.c.webhook_id == webhook_id, deliveries.c.public_id == public_id
    )
    return conn.execute(query).scalar()


def delivery_page(
    conn: Connection,
    webhook_id: int,
    where: DeliveryFilter,
    page: Seek,
    *,
    newest_first: bool,
) -> Slice[DeliveryRecord]:
    query = _with_sources().where(deliveries.c.webhook_id == webhook_id)
    if where.status is not None:
        query = query.where(deliveries.c.status == where.status)
    if where.event_type is not None:
        query = query.where(deliveries.c.event_type == where.event_type)
    if where.created_from is not None:
        query = query.where(deliveries.c.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(deliveries.c.created_at <= where.created_to)
    found = _seek(conn, query, deliveries.c.id, descending=newest_first, page=page)
    rows = [_record(row) for row in found.rows]
    return Slice(rows, found.has_before, found.has_after)


def attempts_of(conn: Connection, delivery_id: int) -> list[AttemptRecord]:
    query = (
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id == delivery_id)
        .order_by(webhook_attempts.c.attempt_number, webhook_attempts.c.id)
    )
    return [
        AttemptRecord(
            r.attempt_number,
            r.at,
            r.status,
            r.http_status_code,
            r.duration_ms,
            r.response_body,
            r.error_message,
        )
        for r in conn.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class LastOutcomes:
    """When a webhook's deliveries last succeeded and last failed (None: never)."""

    succeeded_at: datetime | None
    failed_at: datetime | None


_FAILED = ("client_error", "server_error", "timeout", "failed")


def last_outcomes(conn: Connection, webhook_id: int) -> LastOutcomes:
    """Read backwards along the ``(webhook_id, id)`` index, each query stopping at the first
    delivery with that outcome; a failure counts once an attempt was made (a delivery given
    up unsent, when its webhook was turned off, is not one)."""
    mine = deliveries.c.webhook_id == webhook_id
    newest = (deliveries.c.id.desc(),)
    success = conn.execute(
        select(deliveries.c.delivered_at)
        .where(mine, deliveries.c.status == "success")
        .order_by(*newest)
        .limit(1)
    ).first()
    failure = conn.execute(
        select(deliveries.c.updated_at)
        .where(mine, deliveries.c.status.in_(_FAILED), deliveries.c.attempt_number > 0)
        .order_by(*newest)
        .limit(1)
    ).first()
    return LastOutcomes(
        success.delivered_at if success else None, failure.updated_at if failure else None
    )
