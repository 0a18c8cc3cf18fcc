"""Messages, their recipients' copies and their links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, or_, select, update

from .ids import new_id
from .schema import copies, links, messages, projects

__all__ = [
    "Copy",
    "Link",
    "MessageRecord",
    "NewMessage",
    "copies_of_messages",
    "count_copies",
    "insert_copies",
    "insert_links",
    "insert_message",
    "messages_by_ids",
    "project_window",
]


@dataclass(frozen=True, slots=True)
class NewMessage:
    project_id: int
    route_id: int | None
    source: str
    from_email: str
    from_name: str | None
    subject: str | None
    to: list[dict[str, str | None]]
    cc: list[dict[str, str | None]]
    bcc: list[dict[str, str | None]]
    reply_to: list[str]
    tag: str | None
    tags: list[dict[str, str]]
    metadata: dict[str, str]
    attachments: list[dict[str, Any]]
    html: str | None
    text: str | None
    raw: bytes
    transactional: bool
    track_opens: bool
    track_clicks: bool
    envelope_from: str | None = None  # the relay's MAIL FROM; None: from_email


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    public_id: str
    project_id: int
    project_public_id: str
    route_id: int | None
    source: str
    status: str
    from_email: str
    from_name: str | None
    subject: str | None
    to: list[dict[str, str | None]]
    cc: list[dict[str, str | None]]
    bcc: list[dict[str, str | None]]
    reply_to: list[str]
    tag: str | None
    tags: list[dict[str, str]]
    metadata: dict[str, str]
    attachments: list[dict[str, Any]]
    transactional: bool
    track_opens: bool
    track_clicks: bool
    status_changed_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Copy:
    id: int
    message_id: int
    recipient: str
    recipient_kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Link:
    link_index: int
    url: str
    anchor_text: str
    element: str


_MESSAGE_COLUMNS = [c for c in messages.c if c.name not in ("raw", "html", "text")]


def _message(row: Row[Any]) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        public_id=row.public_id,
        project_id=row.project_id,
        project_public_id=row.project_public_id,
        route_id=row.route_id,
        source=row.source,
        status=row.status,
        from_email=row.from_email,
        from_name=row.from_name,
        subject=row.subject,
        to=list(row.to),
        cc=list(row.cc),
        bcc=list(row.bcc),
        reply_to=list(row.reply_to),
        tag=row.tag,
        tags=list(row.tags),
        metadata=dict(row.metadata),
        attachments=list(row.attachments),
        transactional=row.transactional,
        track_opens=row.track_opens,
        track_clicks=row.track_clicks,
        status_changed_at=row.status_changed_at,
        created_at=row.created_at,
    )


def _copy(row: Row[Any]) -> Copy:
    return Copy(
        id=row.id,
        message_id=row.message_id,
        recipient=row.recipient,
        recipient_kind=row.recipient_kind,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def insert_message(conn: Connection, new: NewMessage, now: datetime) -> tuple[int, str]:
    """(id, public id) of the stored message, status "queued"."""
    public_id = new_id()
    # The values go as parameters, not in .values(): SQLAlchemy's compiled-statement cache
    # keeps the first statement of each shape, values included, for the process's life (a
    # 20 MB body stayed in memory for good).
    row = conn.execute(
        messages.insert().returning(messages.c.id),
        {
            "public_id": public_id,
            "status": "queued",
            "status_changed_at": now,
            "created_at": now,
            **{k: getattr(new, k) for k in NewMessage.__dataclass_fields__},
        },
    ).one()
    return row.id, public_id


def insert_copies(
    conn: Connection, message_id: int, recipients: Sequence[tuple[str, str]], now: datetime
) -> list[int]:
    """One queued copy per (address, kind); their ids, in order. Bodies come with set_copy_raw
    once the ids, which the tokens carry, exist."""
    if not recipients:
        return []
    rows = conn.execute(
        copies.insert().returning(copies.c.id, sort_by_parameter_order=True),
        [
            {
                "message_id": message_id,
                "recipient": address,
                "recipient_kind": kind,
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "raw": b"",
                "updated_at": now,
            }
            for address, kind in recipients
        ],
    ).all()
    return [row.id for row in rows]


def set_copy_raw(
    conn: Connection, copy_id: int, raw: bytes, envelope_from: str | None = None
) -> None:
    """The copy's bytes, and its own MAIL FROM (a VERP return path) when it has one."""
    # The values as parameters, not in .values(): see insert_message.
    values: dict[str, Any] = {"copy_id": copy_id, "raw": raw}
    if envelope_from is not None:
        values["envelope_from"] = envelope_from
    conn.execute(update(copies).where(copies.c.id == bindparam("copy_id")), values)


def suppress_copies(conn: Connection, refused: Mapping[int, str], now: datetime) -> None:
    """Settle copies that are not sent (their recipients are suppressed): ``refused`` maps a
    copy id to why, kept as its last error."""
    for copy_id, reason in refused.items():
        conn.execute(
            update(copies)
            .where(copies.c.id == copy_id)
            .values(status="suppressed", next_attempt_at=None, last_error=reason, updated_at=now)
        )


def insert_links(conn: Connection, message_id: int, found: Sequence[Link]) -> None:
    if found:
        conn.execute(
            links.insert(),
            [
                {
                    "message_id": message_id,
                    "link_index": link.link_index,
                    "url": link.url,
                    "anchor_text": link.anchor_text,
                    "element": link.element,
                }
                for link in found
            ],
        )


def _with_project() -> Any:
    return select(*_MESSAGE_COLUMNS, projects.c.public_id.label("project_public_id")).join(
        projects, projects.c.id == messages.c.project_id
    )


def message_for_team(conn: Connection, team_id: int, public_id: str) -> MessageRecord | None:
    row = conn.execute(
        _with_project().where(projects.c.team_id == team_id, messages.c.public_id == public_id)
    ).first()
    return _message(row) if row else None


def message_by_id(conn: Connection, message_id: int) -> MessageRecord | None:
    row = conn.execute(_with_project().where(messages.c.id == message_id)).first()
    return _message(row) if row else None


@dataclass(frozen=True, slots=True)
class MessageFilter:
    project_id: int | None = None
    route_id: int | None = None
    status: str | None = None
    tag: str | None = None
    recipient: str | None = None
    from_email: str | None = None
    subject: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def list_messages(
    conn: Connection, team_id: int, where: MessageFilter, *, before_id: int | None, limit: int
) -> list[MessageRecord]:
    """Newest first; ``before_id`` continues a page (keyset pagination)."""
    query = _with_project().where(projects.c.team_id == team_id)
    if where.project_id is not None:
        query = query.where(messages.c.project_id == where.project_id)
    if where.route_id is not None:
        query = query.where(messages.c.route_id == where.route_id)
    if where.status:
        query = query.where(messages.c.status == where.status)
    if where.tag:
        query = query.where(messages.c.tag == where.tag)
    if where.from_email:
        query = query.where(messages.c.from_email == where.from_email)
    if where.subject:
        query = query.where(messages.c.subject.contains(where.subject, autoescape=True))
    if where.created_from is not None:
        query = query.where(messages.c.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(messages.c.created_at <= where.created_to)
    if where.recipient:
        query = query.where(
            messages.c.id.in_(
                select(copies.c.message_id).where(
                    func.lower(copies.c.recipient) == where.recipient.lower()
                )
            )
        )
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    rows = conn.execute(query.order_by(messages.c.id.desc()).limit(limit))
    return [_message(row) for row in rows]


def copies_of(conn: Connection, message_id: int) -> list[Copy]:
    query = select(copies).where(copies.c.message_id == message_id).order_by(copies.c.id)
    return [_copy(row) for row in conn.execute(query)]


def copy_raw(conn: Connection, message_id: int, recipient: str | None) -> bytes | None:
    """The bytes handed to the upstream for one recipient (the first copy by default)."""
    query = select(copies.c.raw).where(copies.c.message_id == message_id)
    if recipient:
        query = query.where(func.lower(copies.c.recipient) == recipient.lower())
    row = conn.execute(query.order_by(copies.c.id).limit(1)).first()
    return row.raw if row else None


def message_raw(conn: Connection, message_id: int) -> bytes | None:
    row = conn.execute(select(messages.c.raw).where(messages.c.id == message_id)).first()
    return row.raw if row else None


def links_of(conn: Connection, message_id: int) -> list[Link]:
    query = select(links).where(links.c.message_id == message_id).order_by(links.c.link_index)
    return [Link(r.link_index, r.url, r.anchor_text, r.element) for r in conn.execute(query)]


def link_target(conn: Connection, copy_id: int, link_index: int) -> str | None:
    """Where a click on link ``link_index`` of copy ``copy_id`` goes (the redirect path)."""
    row = conn.execute(
        select(links.c.url)
        .join(copies, copies.c.message_id == links.c.message_id)
        .where(copies.c.id == copy_id, links.c.link_index == link_index)
    ).first()
    return row.url if row else None


def copy_context(conn: Connection, copy_id: int) -> tuple[int, int, str] | None:
    """(message id, project id, recipient) of a copy."""
    row = conn.execute(
        select(copies.c.message_id, messages.c.project_id, copies.c.recipient)
        .join(messages, messages.c.id == copies.c.message_id)
        .where(copies.c.id == copy_id)
    ).first()
    return (row.message_id, row.project_id, row.recipient) if row else None


# --- the outbound queue -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    copy_id: int
    message_id: int
    message_public_id: str
    project_id: int
    sender: str
    recipient: str
    attempts: int  # this attempt included: a claim counts as an attempt
    raw: bytes
    lease_until: datetime  # the lease this claim holds; finish_copy checks it
    route_id: int | None
    tag: str | None


def claim_due(
    conn: Connection, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool
) -> list[Outgoing]:
    """Lease up to ``limit`` copies that are due; a lease that ran out (a worker died) makes a
    copy due again. On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets workers share the queue.

    A claim counts as an attempt, so a copy whose sending kills the worker every time still
    runs out of attempts instead of being retried forever.
    """
    due = and_(
        copies.c.status.in_(("queued", "processed")),
        copies.c.next_attempt_at <= now,
        or_(copies.c.lease_until.is_(None), copies.c.lease_until < now),
    )
    query = select(copies.c.id).where(due).order_by(copies.c.next_attempt_at).limit(limit)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    ids = [row.id for row in conn.execute(query)]
    if not ids:
        return []
    conn.execute(
        update(copies)
        .where(copies.c.id.in_(ids))
        .values(
            status="processed",
            lease_until=lease_until,
            updated_at=now,
            attempts=copies.c.attempts + 1,
        )
    )
    rows = conn.execute(
        select(
            copies.c.id,
            copies.c.message_id,
            copies.c.recipient,
            copies.c.attempts,
            copies.c.raw,
            messages.c.public_id,
            messages.c.project_id,
            func.coalesce(
                copies.c.envelope_from, messages.c.envelope_from, messages.c.from_email
            ).label("sender"),
            messages.c.route_id,
            messages.c.tag,
        )
        .join(messages, messages.c.id == copies.c.message_id)
        .where(copies.c.id.in_(ids))
        .order_by(copies.c.id)
    )
    return [
        Outgoing(
            r.id,
            r.message_id,
            r.public_id,
            r.project_id,
            r.sender,
            r.recipient,
            r.attempts,
            r.raw,
            lease_until,
            r.route_id,
            r.tag,
        )
        for r in rows
    ]


def finish_copy(
    conn: Connection,
    copy_id: int,
    now: datetime,
    *,
    status: str,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    lease: datetime | None = None,
) -> bool:
    """Record an attempt's outcome: delivered/captured/failed, or back to the queue.

    With ``lease`` (the lease the caller's claim holds) nothing changes unless the copy is
    still processed under that lease: a worker that stalled past its lease must not overwrite
    what the worker that took the copy over recorded. Returns whether the copy changed.
    """
    values: dict[str, Any] = {
        "status": status,
        "lease_until": None,
        "last_error": error,
        "updated_at": now,
        "next_attempt_at": next_attempt_at,
    }
    if status in ("delivered", "captured"):
        values["delivered_at"] = now
    statement = update(copies).where(copies.c.id == copy_id)
    if lease is not None:
        statement = statement.where(copies.c.status == "processed", copies.c.lease_until == lease)
    return bool(conn.execute(statement.values(**values)).rowcount)


def renew_leases(
    conn: Connection, copy_ids: Sequence[int], held: datetime, lease_until: datetime
) -> set[int]:
    """Move the lease of the copies still processed under lease ``held`` to ``lease_until``;
    the ids moved (a copy whose lease ran out and was taken over is not)."""
    moved = conn.execute(
        update(copies)
        .where(
            copies.c.id.in_(list(copy_ids)),
            copies.c.status == "processed",
            copies.c.lease_until == held,
        )
        .values(lease_until=lease_until)
        .returning(copies.c.id)
    )
    return {int(row.id) for row in moved}


def refresh_message_status(conn: Connection, message_id: int, now: datetime) -> str:
    """The message's status from its copies': queued until one is attempted, then processed
    until all are settled; then delivered (or captured) unless a copy failed.

    The message row is locked first (PostgreSQL): two copies recorded at once would otherwise
    each miss the other's change under READ COMMITTED, and the message stay processed.
    """
    conn.execute(select(messages.c.id).where(messages.c.id == message_id).with_for_update())
    rows = conn.execute(
        select(copies.c.status, copies.c.attempts).where(copies.c.message_id == message_id)
    ).all()
    # A suppressed copy was settled at once, unsent: the others say how the message went.
    statuses = [row.status for row in rows if row.status != "suppressed"]
    settled = {"delivered", "captured", "failed"}
    if rows and not statuses:
        status = "suppressed"
    elif statuses and all(s in settled for s in statuses):
        if "failed" in statuses:
            status = "failed"
        elif "delivered" in statuses:
            status = "delivered"
        else:
            status = "captured"
    elif any(row.status not in ("queued", "suppressed") or row.attempts > 0 for row in rows):
        status = "processed"
    else:
        status = "queued"
    conn.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.status != status)
        .values(status=status, status_changed_at=now)
    )
    return status


def message_links(conn: Connection, copy_id: int) -> tuple[int, list[str]] | None:
    """(message id, destinations by link index) of a copy's message (the redirect path's
    cache fill); None when the copy does not exist."""
    message = conn.execute(select(copies.c.message_id).where(copies.c.id == copy_id)).first()
    if message is None:
        return None
    rows = conn.execute(
        select(links.c.link_index, links.c.url)
        .where(links.c.message_id == message.message_id)
        .order_by(links.c.link_index)
    )
    return message.message_id, [row.url for row in rows]


def message_in_project(conn: Connection, project_id: int, public_id: str) -> MessageRecord | None:
    """The message with this public id, if it belongs to the project (a key that belongs to one
    project never sees another's, of the same team or not: DESIGN.md, invariant 7)."""
    found = conn.execute(
        select(messages.c.id).where(
            messages.c.project_id == project_id, messages.c.public_id == public_id
        )
    ).first()
    return message_by_id(conn, found.id) if found else None


def header_message_id(conn: Connection, message_id: int) -> str | None:
    """The Message-ID header every copy carries, without its angle brackets."""
    raw = message_raw(conn, message_id)
    if raw is None:
        return None
    value = BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Message-ID")
    bare = str(value or "").strip().strip("<>")
    return bare or None


# --- many messages at once: a page of a list ----------------------------------------------------


def messages_by_ids(conn: Connection, ids: Iterable[int]) -> dict[int, MessageRecord]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = conn.execute(_with_project().where(messages.c.id.in_(wanted)))
    return {row.id: _message(row) for row in rows}


def copies_of_messages(conn: Connection, ids: Iterable[int]) -> dict[int, list[Copy]]:
    """Each message's copies, in the order they were made (the recipients' order)."""
    found: dict[int, list[Copy]] = {}
    wanted = set(ids)
    if wanted:
        query = select(copies).where(copies.c.message_id.in_(wanted)).order_by(copies.c.id)
        for row in conn.execute(query):
            found.setdefault(row.message_id, []).append(_copy(row))
    return found


def project_window(
    conn: Connection,
    project_id: int,
    *,
    since: datetime,
    until: datetime,
    recipient: str | None,
    start: tuple[datetime, int] | None,
    limit: int,
) -> list[MessageRecord]:
    """The project's messages made in ``since``-``until`` (inclusive), newest first (by time,
    then id), to ``recipient`` only if given; ``start`` is the ``(created_at, id)`` of the first
    to give, inclusive (keyset pagination along the ``(project_id, created_at)`` index)."""
    query = _with_project().where(
        messages.c.project_id == project_id,
        messages.c.created_at >= since,
        messages.c.created_at <= until,
    )
    if recipient:
        addressed = select(copies.c.message_id).where(
            func.lower(copies.c.recipient) == recipient.lower()
        )
        query = query.where(messages.c.id.in_(addressed))
    if start is not None:
        at, message_id = start
        query = query.where(
            messages.c.created_at <= at,  # the bound below, as one the index range can use
            or_(
                messages.c.created_at < at,
                and_(messages.c.created_at == at, messages.c.id <= message_id),
            ),
        )
    order = (messages.c.created_at.desc(), messages.c.id.desc())
    return [_message(row) for row in conn.execute(query.order_by(*order).limit(limit))]


def count_copies(
    conn: Connection,
    project_id: int,
    *,
    recipient: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> int:
    """How many copies the project's messages made in the window (one per recipient), to
    ``recipient`` only if given: counted in SQL, through the messages' project index."""
    query = (
        select(func.count())
        .select_from(copies)
        .join(messages, messages.c.id == copies.c.message_id)
        .where(messages.c.project_id == project_id)
    )
    if recipient:
        query = query.where(func.lower(copies.c.recipient) == recipient.lower())
    if created_from is not None:
        query = query.where(messages.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(messages.c.created_at <= created_to)
    return int(conn.execute(query).scalar_one())
