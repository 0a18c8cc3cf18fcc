"""Lettermint's Team API, messages: list, retrieve, events, and the content as sent.

The content endpoints show what the upstream was handed: a recipient's instrumented copy
(``copies.raw``), not the message as submitted, so a sender can see the very links and pixel
a recipient got. ``?recipient=`` picks the copy (the first recipient's by default).
"""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from email import policy
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy import Connection

from ...core.errors import ApiError
from ...store import link_changes, link_report, messages, queries, tenancy
from ..auth import team
from ..services import services_of
from . import shapes
from .bodies import Paging, paging, sort_order

__all__ = ["moment", "router"]

router = APIRouter(tags=["Lettermint Team API"])

Caller = Annotated[tenancy.Team, Depends(team)]
Page = Annotated[Paging, Depends(paging)]

# Lettermint's MessageStatus: a filter on one mailbeacon never reaches matches nothing.
MESSAGE_STATUSES = frozenset(
    {
        *("scheduled", "pending", "queued", "quarantined", "suppressed", "processed"),
        *("delivered", "opened", "clicked", "soft_bounced", "hard_bounced", "spam_complaint"),
        *("failed", "blocked", "policy_rejected", "unsubscribed", "canceled"),
    }
)
MESSAGE_SORTS = ("type", "status", "from_email", "subject", "created_at", "status_changed_at")
EVENT_SORTS = ("timestamp", "event")
# Longer than any subject, address or tag can be; also far below SQLite's LIKE pattern limit
# (50,000 bytes), which a longer search would hit as a server error.
MAX_FILTER = 1000


def _filter(name: str) -> Any:
    return Query(alias=f"filter[{name}]", max_length=MAX_FILTER)


def moment(value: str | None, field: str, *, end_of_day: bool) -> datetime | None:
    """A date (the whole day, in UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, UTC)
        found = datetime.fromisoformat(value)
        # In UTC, as stored: 9999-12-31T23:59:59-14:00 is past the last representable year.
        found = found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ApiError(
            422,
            f"The {field} is not a date.",
            errors={field: ["Use a date such as 2026-11-23 or an ISO 8601 time."]},
        ) from None
    return found


def _statuses(status: str | None, kind: str | None) -> tuple[str, ...] | None:
    if kind == "inbound":
        return ()  # mailbeacon receives no mail
    if status is None:
        return None
    if status not in MESSAGE_STATUSES:
        raise ApiError(
            422,
            f"{status!r} is not a message status.",
            errors={"filter[status]": [f"Use one of {', '.join(sorted(MESSAGE_STATUSES))}."]},
        )
    return shapes.stored_statuses(status)


def message_filters(
    project: Annotated[str | None, Query(alias="filter[project]")] = None,
    route_id: Annotated[str | None, Query(alias="filter[route_id]")] = None,
    status: Annotated[str | None, Query(alias="filter[status]")] = None,
    kind: Annotated[Literal["inbound", "outbound"] | None, Query(alias="filter[type]")] = None,
    tag: Annotated[str | None, _filter("tag")] = None,
    recipient: Annotated[str | None, _filter("recipient")] = None,
    from_email: Annotated[str | None, _filter("from_email")] = None,
    subject: Annotated[str | None, _filter("subject")] = None,
    search: Annotated[str | None, _filter("search")] = None,
    delivery_mode: Annotated[
        Literal["live", "sandbox"] | None, Query(alias="filter[delivery_mode]")
    ] = None,
    from_date: Annotated[str | None, Query(alias="filter[from_date]")] = None,
    to_date: Annotated[str | None, Query(alias="filter[to_date]")] = None,
) -> queries.MessageQuery:
    """GET /messages filters. ``filter[recipient]`` is mailbeacon's own: any to, cc or bcc
    address, exactly (any letter case)."""
    return queries.MessageQuery(
        project=project,
        route=route_id,
        statuses=_statuses(status, kind),
        tag=tag,
        recipient=recipient,
        from_email=from_email,
        subject=subject,
        search=search,
        delivery_mode=delivery_mode,
        created_from=moment(from_date, "filter[from_date]", end_of_day=False),
        created_to=moment(to_date, "filter[to_date]", end_of_day=True),
    )


def _seek(page: Paging, resolve: Callable[[str], int | None]) -> queries.Seek:
    if page.cursor is None:
        return queries.Seek(page.size)
    cursor = shapes.Cursor.decode(page.cursor)
    anchor = resolve(cursor.public_id)
    if anchor is None:
        raise shapes.Cursor.invalid()
    return queries.Seek(page.size, anchor, cursor.backwards)


def _page(
    request: Request, found: queries.Slice[Any], data: list[dict[str, Any]], size: int
) -> dict[str, Any]:
    rows = found.rows
    return shapes.cursor_page(
        request,
        data,
        size,
        next_id=rows[-1].public_id if rows and found.has_after else None,
        prev_id=rows[0].public_id if rows and found.has_before else None,
    )


def _message_of(conn: Connection, caller: tenancy.Team, message_id: str) -> messages.MessageRecord:
    message = messages.message_for_team(conn, caller.id, message_id)
    if message is None:
        raise ApiError(404, "No such message.")
    return message


@router.get("/messages", summary="List the team's messages")
def list_messages(
    request: Request,
    caller: Caller,
    page: Page,
    where: Annotated[queries.MessageQuery, Depends(message_filters)],
    sort: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    newest_first = sort_order(sort, key="-created_at", allowed=MESSAGE_SORTS)
    with services_of(request).db.read() as conn:
        seek = _seek(page, lambda public_id: queries.message_cursor_id(conn, caller.id, public_id))
        found = queries.message_page(conn, caller.id, where, seek, newest_first=newest_first)
        modes = {p.id: p.delivery_mode for p in tenancy.list_projects(conn, caller.id)}
    data = [shapes.message_list_data(m, modes[m.project_id]) for m in found.rows]
    return _page(request, found, data, page.size)


@router.get("/messages/{message_id}", summary="Retrieve a message")
def retrieve_message(request: Request, caller: Caller, message_id: str) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        message = _message_of(conn, caller, message_id)
        project = tenancy.project_by_id(conn, message.project_id)
        assert project is not None
        route = tenancy.route_by_id(conn, message.route_id) if message.route_id else None
        recipients = messages.copies_of(conn, message.id)
        clicked = link_report.link_report(conn, message.id)
        changes = link_changes.changes_of(conn, message.id)
    route_id = route.public_id if route else None
    data = shapes.message_data(message, project.delivery_mode, route_id, recipients)
    data["links"] = [shapes.link_data(link) for link in clicked]  # mailbeacon's own field
    # and its audit trail of links changed after sending, oldest first (web/lettermint/
    # link_fixes.py)
    data["link_changes"] = [shapes.link_change_data(change) for change in changes]
    return data


@router.get("/messages/{message_id}/events", summary="List a message's events")
def list_events(
    request: Request,
    caller: Caller,
    message_id: str,
    page: Page,
    include_machine_events: Annotated[bool, Query()] = False,
    sort: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Oldest first unless ``sort=-timestamp``. Scanner, preview and bot events only with
    ``include_machine_events=1``; privacy-proxy opens, which a person caused, always."""
    newest_first = sort_order(sort, key="timestamp", allowed=EVENT_SORTS)
    with services_of(request).db.read() as conn:
        message = _message_of(conn, caller, message_id)
        seek = _seek(page, lambda public_id: queries.event_cursor_id(conn, message.id, public_id))
        found = queries.event_page(
            conn,
            message.id,
            include_machine=include_machine_events,
            newest_first=newest_first,
            page=seek,
        )
    data = [shapes.event_data(e, message) for e in found.rows]
    return _page(request, found, data, page.size)


# --- content ----------------------------------------------------------------------------------


def _copy(request: Request, caller: tenancy.Team, message_id: str, recipient: str | None) -> bytes:
    """The bytes handed to the upstream for ``recipient`` (the first recipient by default)."""
    with services_of(request).db.read() as conn:
        message = _message_of(conn, caller, message_id)
        project = tenancy.project_by_id(conn, message.project_id)
        route = tenancy.route_by_id(conn, message.route_id) if message.route_id else None
        raw = messages.copy_raw(conn, message.id, recipient)
    redacted = (project is not None and project.redact_email_content) or (
        route is not None and route.settings.get("redact_email_content") is True
    )
    if redacted:
        raise ApiError(410, "This project redacts email content.", code="content_redacted")
    if raw is None:
        raise ApiError(404, f"The message was not sent to {recipient}.")
    if not raw:
        raise ApiError(410, "The content of this message is no longer kept.")
    return raw


def _part(raw: bytes, subtype: str) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    body = parsed.get_body(preferencelist=(subtype,))
    if body is None:
        label = "HTML" if subtype == "html" else "plain-text"
        raise ApiError(404, f"The message has no {label} part.")
    return str(body.get_content())


Recipient = Annotated[str | None, Query(description="Whose copy (default: the first recipient)")]


@router.get("/messages/{message_id}/html", response_class=HTMLResponse, summary="The HTML sent")
def message_html(
    request: Request, caller: Caller, message_id: str, recipient: Recipient = None
) -> HTMLResponse:
    return HTMLResponse(_part(_copy(request, caller, message_id, recipient), "html"))


@router.get("/messages/{message_id}/text", response_class=PlainTextResponse, summary="The text")
def message_text(
    request: Request, caller: Caller, message_id: str, recipient: Recipient = None
) -> PlainTextResponse:
    return PlainTextResponse(_part(_copy(request, caller, message_id, recipient), "plain"))


@router.get("/messages/{message_id}/source", summary="The RFC 822 source sent")
def message_source(
    request: Request, caller: Caller, message_id: str, recipient: Recipient = None
) -> Response:
    return Response(_copy(request, caller, message_id, recipient), media_type="message/rfc822")
