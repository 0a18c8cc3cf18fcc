"""Lettr's lists: ``GET /emails`` (the emails sent) and ``GET /emails/events`` (their events).

Both answer ``{"data": {"events": {"data": [...], "total_count", "from", "to",
"pagination": {"next_cursor", "per_page"}}}}`` (what ``EmailList`` and ``EmailEventList``
read), newest first, ``per_page`` 1-100 (25 by default) and the window ``from``-``to``
(ISO 8601; the last 10 days by default, as Lettr's).

An email of the list is its SparkPost ``injection`` event, one per recipient: the same items,
with the same ``event_id``, as in ``GET /emails/{request_id}``. Pages are read by key (the
messages' ``(project_id, created_at)`` index, the events' ``(project_id, at)``) and cut by
core/lettr/paging.py, so a page holds exactly ``per_page`` items however many recipients a
message has. ``total_count`` is counted in SQL over the same window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection

from ...core.errors import ApiError
from ...core.lettr import listing
from ...core.lettr.paging import Cursor, Group, Page, cut, decode_cursor, encode_cursor
from ...store import events, messages, tenancy
from ...store.events import EventView, ProjectEventFilter
from ..auth import sending_project
from ..services import services_of
from .shapes import event_items, message_fields, timestamp

__all__ = ["DEFAULT_WINDOW", "router"]

router = APIRouter(tags=["Lettr API"])

Project = Annotated[tenancy.Project, Depends(sending_project)]
PerPage = Annotated[int, Query(ge=1, le=100)]
DEFAULT_WINDOW = timedelta(days=10)  # Lettr's, when ``from`` is not given


def _window(request: Request, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    now = services_of(request).clock.now()
    end = listing.instant(until, "to", end_of_day=True) or now
    start = listing.instant(since, "from") or min(now, end) - DEFAULT_WINDOW
    if start > end:
        message = "The from date must not be after the to date."
        raise ApiError(422, message, errors={"from": [message]})
    return start, end


def _answer(
    what: str,
    page: Page[dict[str, Any]],
    total: int,
    per_page: int,
    window: tuple[datetime, datetime],
) -> dict[str, Any]:
    found = {
        "data": page.items,
        "total_count": total,
        "from": timestamp(window[0]),
        "to": timestamp(window[1]),
        "pagination": {"next_cursor": encode_cursor(page.next), "per_page": per_page},
    }
    return {"message": f"{what} retrieved successfully.", "data": {"events": found}}


@router.get("/emails", summary="List sent emails")
def list_emails(
    request: Request,
    project: Project,
    per_page: PerPage = 25,
    cursor: Annotated[str | None, Query()] = None,
    recipients: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Each recipient's ``injection``; ``recipients`` keeps one address's (the SDK sends
    one: ``recipients: str``; several, comma-separated, are a 422)."""
    window = _window(request, since, until)
    start = decode_cursor(cursor, [str, int])
    wanted = listing.recipients(recipients)
    if len(wanted) > 1:
        message = "Filter by one recipient address."
        raise ApiError(422, message, errors={"recipients": [message]})
    recipient = wanted[0] if wanted else None
    with services_of(request).db.read() as conn:
        found = messages.project_window(
            conn,
            project.id,
            since=window[0],
            until=window[1],
            recipient=recipient,
            start=_key(start),
            limit=per_page + 1,
        )
        groups = _email_groups(conn, found, recipient)
        total = messages.count_copies(
            conn,
            project.id,
            recipient=recipient,
            created_from=window[0],
            created_to=window[1],
        )
    return _answer("Emails", cut(groups, start, per_page), total, per_page, window)


def _email_groups(
    conn: Connection, found: list[messages.MessageRecord], recipient: str | None
) -> list[Group[dict[str, Any]]]:
    ids = [record.id for record in found]
    created = events.created_events(conn, ids)
    copies = messages.copies_of_messages(conn, ids)
    groups = []
    for record in found:
        view = created.get(record.id)
        if view is None:  # written with the message: only a half-deleted one lacks it
            continue
        common = message_fields(record, None)
        items = event_items(view, common, copies.get(record.id, []), record.created_at)
        if recipient is not None:
            items = [item for item in items if item["rcpt_to"] == recipient]
        if items:
            groups.append(Group((record.created_at.isoformat(), record.id), items))
    return groups


@router.get("/emails/events", summary="List email events")
def list_events(
    request: Request,
    project: Project,
    per_page: PerPage = 25,
    cursor: Annotated[str | None, Query()] = None,
    event_types: Annotated[str | None, Query(alias="events")] = None,
    recipients: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    transmissions: Annotated[str | None, Query()] = None,
    bounce_classes: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """SparkPost events of the project's emails (machine engagement included, labelled as
    in ``GET /emails/{request_id}``); ``transmissions`` is a ``request_id``."""
    window = _window(request, since, until)
    start = decode_cursor(cursor, [str, int])
    chosen = listing.selection(event_types, bounce_classes)
    wanted = listing.recipients(recipients)
    with services_of(request).db.read() as conn:
        message_id = None
        if transmissions:
            record = messages.message_in_project(conn, project.id, transmissions.strip())
            message_id = record.id if record is not None else -1  # unknown: nothing matches
        where = ProjectEventFilter(
            types=chosen.types,
            since=window[0],
            until=window[1],
            message_id=message_id,
            recipients=wanted,
            permanent=chosen.permanent,
        )
        views = events.project_events(
            conn, project.id, where, start=_key(start), limit=per_page + 1
        )
        groups = _event_groups(conn, views, wanted)
        total = events.count_project_events(conn, project.id, where)
    return _answer("Email events", cut(groups, start, per_page), total, per_page, window)


def _key(cursor: Cursor | None) -> tuple[datetime, int] | None:
    """A cursor's ``(time, id)`` key, as the store's keyset reads take it."""
    if cursor is None:
        return None
    try:
        moment = datetime.fromisoformat(str(cursor.key[0]))
    except ValueError:
        message = "The cursor parameter must be a next_cursor this API answered."
        raise ApiError(422, message, errors={"cursor": [message]}) from None
    # the store takes aware instants only; a forged cursor may hold a naive one
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC), int(cursor.key[1])


def _event_groups(
    conn: Connection, views: list[EventView], recipients: tuple[str, ...]
) -> list[Group[dict[str, Any]]]:
    ids = {view.event.message_id for view in views}
    records = messages.messages_by_ids(conn, ids)
    shared = {view.event.message_id for view in views if view.event.copy_id is None}
    copies = messages.copies_of_messages(conn, shared)
    groups = []
    for view in views:
        record = records[view.event.message_id]
        common = message_fields(record, None)
        items = event_items(view, common, copies.get(record.id, []), record.created_at)
        if recipients and view.event.copy_id is None:  # one per recipient: the ones asked
            items = [item for item in items if item["rcpt_to"] in recipients]
        if items:
            groups.append(Group((view.event.at.isoformat(), view.event.id or 0), items))
    return groups
