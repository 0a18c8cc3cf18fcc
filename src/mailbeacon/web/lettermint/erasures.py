"""Erasing a recipient's data from the team's (mailbeacon's own Team API endpoints;
service/erasure.py): ``POST /v1/erasures``, and the team's audit log of them,
``GET /v1/erasures`` (``?recipient=`` finds an address's by its keyed hash)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, StrictBool, StringConstraints

from ...core.timestamps import rfc3339_or_none as iso
from ...service import erasure
from ...store import erasure_log, tenancy
from ..auth import team
from ..services import services_of
from .link_fixes import changed_by

__all__ = ["router"]

router = APIRouter(tags=["Privacy"])

Caller = Annotated[tenancy.Team, Depends(team)]


class Erase(BaseModel):
    recipient: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    # also the suppressions that keep the address from being mailed (kept unless asked)
    suppressions: StrictBool = False


@router.post("/erasures", summary="Erase every trace of a recipient's address")
def erase(request: Request, caller: Caller, body: Erase) -> dict[str, Any]:
    """Removes or anonymises the address in the team's messages, copies, links, events, raw
    hits, webhook deliveries and counters (README: Privacy and data lifecycle), and answers
    what was erased; the erasure is logged under a keyed hash of the address."""
    services = services_of(request)
    done = erasure.erase(
        services.db,
        body.recipient,
        services.clock.now(),
        team=caller,
        requested_by=changed_by(caller),
        suppressions=body.suppressions,
    )
    return {
        "data": {
            "id": done.public_id,
            "subject_hash": done.subject_hash,
            "erased": done.erased,
            "created_at": iso(done.at),
        },
        "message": "Recipient erased.",
    }


@router.get("/erasures", summary="The team's erasures, newest first")
def list_erasures(
    request: Request,
    caller: Caller,
    recipient: Annotated[str | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    """The audit log: who asked, when, what was erased; never the address (``subject_hash``
    is its keyed hash). ``recipient`` keeps the erasures of that address."""
    with services_of(request).db.read() as conn:
        address = erasure.address_of(recipient) if recipient is not None else None
        subject = erasure_log.subject_of(conn, address) if address is not None else None
        if recipient is not None and subject is None:
            found = []  # nothing was ever erased
        else:
            found = erasure_log.logged(conn, caller.id, subject, limit)
    return {
        "data": [
            {
                "id": e.public_id,
                "subject_hash": e.subject_hash,
                "erased": e.erased,
                "requested_by": e.requested_by,
                "created_at": iso(e.at),
            }
            for e in found
        ]
    }
