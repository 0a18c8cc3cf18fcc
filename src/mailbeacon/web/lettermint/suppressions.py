"""Lettermint's suppression list (``suppressions.*`` of its SDK, team token) and mailbeacon's
tracking opt-outs, under /v1.

Shapes are Lettermint's (``lettermint/_generated/types.py``): StoreSuppressionData in,
SuppressionStoreResponse, a CursorPage of SuppressedRecipientData and
SuppressionDeletedResponse out. A suppression is of an address (``type`` ``email``); a team's
list is read whole, filtered, sorted and paged in memory, as its projects are (web/lettermint/
team.py): a list of a few hundred thousand addresses still reads in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from ...core.errors import ApiError
from ...core.timestamps import rfc3339
from ...service import suppressions
from ...store import suppressions as stored
from ...store import tenancy
from ..auth import team
from ..services import services_of
from .bodies import Paging, ordered, paging, window
from .shapes import cursor_page

__all__ = ["router"]

router = APIRouter(tags=["Suppressions and tracking opt-outs"])

Caller = Annotated[tenancy.Team, Depends(team)]
Page = Annotated[Paging, Depends(paging)]
Text = Annotated[str, StringConstraints(max_length=320)]
Id = Annotated[str, StringConstraints(max_length=64)]

_SORTS: dict[str, Callable[[stored.Listed], Any]] = {
    "value": lambda s: s.value,
    "created_at": lambda s: s.created_at,
    "reason": lambda s: s.reason,
}


class StoreSuppression(BaseModel):
    """StoreSuppressionData: ``email`` or ``emails`` (or both), a reason and a scope. Other
    keys are ignored, as the other bodies' are (Lettermint adds fields over time)."""

    email: Text | None = None
    emails: Annotated[list[Text], Field(max_length=1000)] | None = None
    reason: Annotated[str, StringConstraints(max_length=32)]
    scope: Annotated[str, StringConstraints(max_length=16)]
    route_id: Id | None = None
    project_id: Id | None = None
    applies_to: Annotated[str, StringConstraints(max_length=16)] | None = None


class StoreOptOuts(BaseModel):
    emails: Annotated[list[Text], Field(min_length=1, max_length=1000)]


def _data(item: stored.Listed) -> dict[str, Any]:
    source = None
    if item.source_message is not None:
        public_id, subject, created = item.source_message
        source = {
            "id": public_id,
            "available": True,
            "subject": subject,
            "created_at": rfc3339(created),
        }
    return {
        "id": item.public_id,
        "type": "email",
        "value": item.value,
        "reason": item.reason,
        "scope": item.scope,
        "applies_to": item.applies_to,
        "project_id": item.project_public_id,
        "route_id": item.route_public_id,
        "source_message": source,
        "created_at": rfc3339(item.created_at),
    }


def _since(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422,
            f"{field} is not an ISO 8601 date or date-time.",
            errors={field: ["Use a date (2026-11-23) or a date-time with its offset."]},
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get("/suppressions", summary="List the team's suppressions")
def list_suppressions(
    request: Request,
    caller: Caller,
    page: Page,
    sort: Annotated[str | None, Query(max_length=100)] = None,
    scope: Annotated[str | None, Query(alias="filter[scope]", max_length=16)] = None,
    route_id: Annotated[str | None, Query(alias="filter[route_id]", max_length=64)] = None,
    project_id: Annotated[str | None, Query(alias="filter[project_id]", max_length=64)] = None,
    value: Annotated[str | None, Query(alias="filter[value]", max_length=320)] = None,
    reason: Annotated[str | None, Query(alias="filter[reason]", max_length=32)] = None,
    start: Annotated[str | None, Query(alias="filter[startDate]", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="filter[endDate]", max_length=40)] = None,
) -> dict[str, Any]:
    """Lettermint's filters: ``value`` matches part of the address, dates bound ``created_at``."""
    since, until = _since(start, "filter[startDate]"), _since(end, "filter[endDate]")
    with services_of(request).db.read() as conn:
        found = stored.list_for_team(conn, caller.id)
    wanted = {
        "scope": scope,
        "route_public_id": route_id,
        "project_public_id": project_id,
        "reason": reason,
    }
    for name, expected in wanted.items():
        if expected is not None:
            found = [s for s in found if getattr(s, name) == expected]
    if value:
        needle = value.lower()
        found = [s for s in found if needle in s.value]
    if since is not None:
        found = [s for s in found if s.created_at >= since]
    if until is not None:
        found = [s for s in found if s.created_at <= until]
    found = ordered(found, sort or "-created_at", _SORTS, lambda s: s.public_id)
    part = window([s.public_id for s in found], page)
    data = [_data(s) for s in found[part.start : part.stop]]
    return cursor_page(request, data, page.size, next_id=part.next_id, prev_id=part.prev_id)


@router.post("/suppressions", status_code=201, summary="Add addresses to the suppression list")
def create_suppressions(request: Request, caller: Caller, body: StoreSuppression) -> dict[str, Any]:
    services = services_of(request)
    addresses = ([body.email] if body.email else []) + list(body.emails or [])
    added = suppressions.add(
        services.db,
        caller,
        suppressions.SuppressionRequest(
            addresses,
            body.reason,
            body.scope,
            project_id=body.project_id,
            route_id=body.route_id,
            applies_to=body.applies_to,
        ),
        services.clock.now(),
        field="emails" if body.emails else "email",
    )
    return {
        "message": f"{len(added.created)} added, {len(added.skipped)} already suppressed.",
        "data": {"created": added.created, "skipped": added.skipped},
    }


@router.delete("/suppressions/{suppression_id}", summary="Remove a suppression")
def delete_suppression(request: Request, caller: Caller, suppression_id: str) -> dict[str, Any]:
    suppressions.remove(services_of(request).db, caller, suppression_id)
    return {"success": True, "status": "removed", "message": "Suppression removed."}


# --- tracking opt-outs (mailbeacon's own) -----------------------------------------------------


@router.get("/tracking-opt-outs", summary="List the recipients who opted out of tracking")
def list_opt_outs(request: Request, caller: Caller, page: Page) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        found = stored.list_opt_outs(conn, caller.id)
    part = window([o.public_id for o in found], page)
    data = [
        {"id": o.public_id, "value": o.value, "created_at": rfc3339(o.created_at)}
        for o in found[part.start : part.stop]
    ]
    return cursor_page(request, data, page.size, next_id=part.next_id, prev_id=part.prev_id)


@router.post(
    "/tracking-opt-outs", status_code=201, summary="Opt recipients out of open and click tracking"
)
def create_opt_outs(request: Request, caller: Caller, body: StoreOptOuts) -> dict[str, Any]:
    services = services_of(request)
    added = suppressions.add_opt_outs(services.db, caller, body.emails, services.clock.now())
    return {
        "message": f"{len(added.created)} opted out, {len(added.skipped)} already were.",
        "data": {"created": added.created, "skipped": added.skipped},
    }


@router.delete("/tracking-opt-outs/{opt_out_id}", summary="Track a recipient again")
def delete_opt_out(request: Request, caller: Caller, opt_out_id: str) -> dict[str, Any]:
    suppressions.remove_opt_out(services_of(request).db, caller, opt_out_id)
    return {"success": True, "status": "removed", "message": "Tracking opt-out removed."}
