"""Lettr's API under /api: send an email, read an email and its events.

What the official SDK (lettr 1.7) sends and indexes is pinned in docs/contracts.md, sections 0
and 2: every answer is ``{"data": ...}``, every error the one JSON shape of web/errors.py.
Keys are a project's sending token (``Authorization: Bearer``), so everything read here is
scoped to that project: another project's request id is not found.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from ...core.errors import ApiError
from ...core.lettr.submission import from_lettr
from ...service.accept import Accepted, body_hash, intake_from_submission
from ...service.sending import send
from ...store import events, messages, tenancy
from ..auth import sending_project
from ..services import services_of
from .shapes import email_detail

__all__ = ["router"]

router = APIRouter(tags=["Lettr API"])

_SCOPE = "lettr.emails"
# The SDK checks the same pattern before sending (lettr/_idempotency.py); other clients get
# the SDK's own message back, as a 422.
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._-]{1,255}")
_KEY_MESSAGE = "Use 1 to 255 letters, digits, periods, underscores or hyphens."
# Lettr SDK calls whose paths fall under /emails/{request_id} but are not served here.
# Lettr's GET has no pagination: this bounds one answer (the oldest events come first).
MAX_EVENTS = 10_000
_UNSUPPORTED = {"events": "Listing email events", "scheduled": "Scheduled sending"}

Project = Annotated[tenancy.Project, Depends(sending_project)]


def _checked_key(key: str | None) -> str | None:
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(422, "Validation failed.", errors={"Idempotency-Key": [_KEY_MESSAGE]})
    return key


def _sent(accepted: list[Accepted]) -> tuple[int, dict[str, Any]]:
    """The answer to store and replay: what ``SendEmailResponse`` indexes, nothing else.
    Every recipient (to, cc and bcc) gets its own copy, so all of them are accepted."""
    (one,) = accepted
    data = {"request_id": one.public_id, "accepted": len(one.copy_ids), "rejected": 0}
    return 200, {"data": data}


@router.post("/emails", summary="Send an email")
def send_email(
    request: Request,
    project: Project,
    body: Annotated[Any, Body()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Lettr's options ``open_tracking`` / ``click_tracking`` override the route for this
    email; absent ones fall back to the route (on by default, as Lettr's are)."""
    key = _checked_key(idempotency_key)
    services = services_of(request)
    now = services.clock.now()
    submission = from_lettr(body)
    status, response, replayed = send(
        services,
        project,
        [intake_from_submission(submission, "lettr", now)],
        now,
        scope=_SCOPE,
        key=key,
        request_hash=body_hash(body),
        respond=_sent,
    )
    headers = {"Idempotency-Replayed": "true"} if replayed else None
    return JSONResponse(response, status_code=status, headers=headers)


@router.get("/emails/{request_id}", summary="An email and its events")
def get_email(
    request: Request,
    request_id: str,
    project: Project,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
) -> JSONResponse:
    """Events between ``from`` and ``to`` (ISO 8601, both inclusive; all by default)."""
    if request_id in _UNSUPPORTED:
        _not_implemented(f"{_UNSUPPORTED[request_id]} is not supported by this server.")
    start, end = _instant(since, "from"), _instant(until, "to", end_of_day=True)
    with services_of(request).db.read() as conn:
        record = messages.message_in_project(conn, project.id, request_id)
        if record is None:
            raise ApiError(404, "No email with this request id.")
        copies = messages.copies_of(conn, record.id)
        views = events.events_with_context(
            conn, project.id, record.id, since=start, until=end, limit=MAX_EVENTS
        )
        header_id = messages.header_message_id(conn, record.id)
    return JSONResponse({"data": email_detail(record, copies, views, header_id)})


def _instant(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is UTC. A bare date as ``to`` means the
    whole of that day."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        message = f"The {name} parameter must be an ISO 8601 date or date and time."
        raise ApiError(422, message, errors={name: [message]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(value) == len("2026-01-31"):
        moment += timedelta(days=1, microseconds=-1)
    return moment


# Other methods on /emails and the SDK's /emails/... calls not served here (list, events,
# scheduling) answer the JSON 404 rather than a 405, as every unknown path under /api does.
# Registered last so that they never shadow the routes above.
@router.api_route(
    "/emails",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
@router.api_route(
    "/emails/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
def unsupported(request: Request) -> NoReturn:
    _not_implemented(f"{request.method} {request.url.path} is not supported by this server.")


def _not_implemented(message: str) -> NoReturn:
    raise ApiError(404, message)
