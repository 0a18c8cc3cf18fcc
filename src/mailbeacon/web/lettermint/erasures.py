"""Erasing a recipient's data from the team's (mailbeacon's own Team API endpoint;
service/erasure.py): ``POST /v1/erasures``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, StrictBool, StringConstraints

from ...core.timestamps import rfc3339_or_none as iso
from ...service import erasure
from ...store import tenancy
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
