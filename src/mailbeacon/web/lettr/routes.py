"""Lettr's API under /api: send an email, read an email and its events; the lists
(listing.py), webhooks (webhooks.py) and tracking domains (domains.py) are included here.

What the official SDK (lettr 1.7) sends and indexes is pinned in docs/contracts.md, sections 0
and 2: every answer is ``{"data": ...}``, every error the one JSON shape of web/errors.py.
Keys are a project's sending token (``Authorization: Bearer``), so everything read here is
scoped to that project: another project's request id is not found.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from ...core.errors import ApiError
from ...core.lettr.listing import instant
from ...core.lettr.submission import from_lettr
from ...service.accept import Accepted, body_hash, intake_from_submission
from ...service.sending import send
from ...store import events, messages, tenancy
from ..auth import sending_project
from ..services import services_of
from . import domains, listing, webhooks
from .shapes import email_detail

__all__ = ["OUT_OF_SCOPE", "router"]

router = APIRouter(tags=["Lettr API"])

_SCOPE = "lettr.emails"
# The SDK checks the same pattern before sending (lettr/_idempotency.py); other clients get
# the SDK's own message back, as a 422.
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._-]{1,255}")
_KEY_MESSAGE = "Use 1 to 255 letters, digits, periods, underscores or hyphens."
# Lettr's GET has no pagination: this bounds one answer (the oldest events come first).
MAX_EVENTS = 10_000

Project = Annotated[tenancy.Project, Depends(sending_project)]

# The lists and the set-up resources, each in its module; the lists first, so that
# /emails/events is not taken for a request id.
router.include_router(listing.router)
router.include_router(webhooks.router)
router.include_router(domains.router)


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
    if request_id == "scheduled":  # the SDK's list_scheduled, out of scope
        unsupported(request, "emails/scheduled")
    start, end = instant(since, "from"), instant(until, "to", end_of_day=True)
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


# The official SDK's calls that are out of a tracker's scope, by their first path segment
# (scheduling is under /emails): each answers a JSON 404 ``not_supported`` saying so, where
# any other unknown path under /api is the plain 404 ``not_found``. README.md lists them.
OUT_OF_SCOPE = {
    "emails/scheduled": "Scheduled sending",
    "templates": "Templates",
    "folders": "Template folders",
    "projects": "Lettr's projects (a key is one mailbeacon project)",
    "audience": "Audiences, contacts, topics and segments",
    "campaigns": "Campaigns",
    "health": "The health check",
    "auth": "The key check",
}


# Registered last, so that they never shadow the routes above. Other methods on /emails, and
# unknown paths under it, answer the JSON 404 rather than a 405.
@router.api_route(
    "/emails",
    methods=["PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
def unsupported(request: Request, rest: str = "") -> NoReturn:
    where = f"{request.method} {request.url.path}"
    for prefix, what in OUT_OF_SCOPE.items():
        if rest == prefix or rest.startswith(prefix + "/"):
            message = f"{what}: not supported by this server ({where}); see its README."
            raise ApiError(404, message, code="not_supported")
    raise ApiError(404, f"{where} is not supported by this server.")
