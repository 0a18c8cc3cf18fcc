"""POST /v1/analytics: Lettermint's analytics query (team token).

The endpoint parses the JSON body (400 when it is not JSON), calls service/analytics.py's
``run`` (which validates, counts and shapes) and answers JSON, or CSV when the client asks
for ``text/csv`` (core/analytics/csv_rows.py: one row per breakdown row, time-series bucket
or the summary), streamed a line at a time.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...core.analytics import csv_rows
from ...core.errors import ApiError
from ...service import analytics
from ...store import tenancy
from ..auth import team
from ..services import services_of

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Team API"])


@router.post("/analytics", summary="Query email analytics", response_model=None)
async def query(
    request: Request, caller: Annotated[tenancy.Team, Depends(team)]
) -> dict[str, Any] | StreamingResponse:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(
            422, "The request body must be a JSON object.", errors={"body": ["Send an object."]}
        )
    services = services_of(request)
    answer = await run_in_threadpool(analytics.run, services.db, caller, body, services.clock.now())
    if "text/csv" not in request.headers.get("accept", ""):
        return answer
    group_by = list(body.get("group_by") or ())
    return StreamingResponse(
        csv_rows.lines(answer, list(dict.fromkeys(body["metrics"])), group_by),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="analytics.csv"'},
    )
