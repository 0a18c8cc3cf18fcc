"""Live: the team's hits as they arrive, over Server-Sent Events.

A hit is written by the tracking path at once and judged by the promoter after the settle
window (MAILBEACON_SETTLE_SECONDS), when later hits can still change the picture (a scanner
clicks every link within a second). So the stream sends each raw hit as soon as it is in the
database (a ``hit`` event) and its verdict once promoted (a ``verdict`` event, same id).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ...store import dashboard as reads
from ...store.accounts import SessionRow
from ..services import services_of
from .explain import CLASSIFICATIONS, KIND_LABELS, audience
from .rendering import render

__all__ = ["router"]

router = APIRouter()

POLL_SECONDS = 0.5
STREAM_SECONDS = 300  # then the browser's EventSource reconnects (and the session is rechecked)


@router.get("/live")
def live_page(request: Request) -> Response:
    with services_of(request).db.read() as conn:
        start = reads.latest_hit_id(conn)
    return render(request, "live.html", page_name="live", start=start)


def _sse(event: str, data: dict[str, object], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.get("/live/stream")
async def live_stream(request: Request) -> Response:
    viewer: SessionRow = request.state.viewer
    db = services_of(request).db
    try:
        after = int(request.headers.get("last-event-id") or request.query_params.get("after", "0"))
    except ValueError:
        after = 0

    def poll(after_id: int, waiting: list[int]) -> tuple[list[reads.Hit], list[reads.Verdict]]:
        with db.read() as conn:
            hits = reads.team_hits(conn, viewer.user.team.id, after_id, 200)
            judged = reads.verdicts_of(conn, [*waiting, *(h.id for h in hits if h.promoted)])
        return hits, judged

    async def stream() -> AsyncIterator[bytes]:
        last, waiting = after, list[int]()
        yield b"retry: 1000\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        while loop.time() < deadline and not await request.is_disconnected():
            hits, judged = await run_in_threadpool(poll, last, waiting)
            for hit in hits:
                last = hit.id
                waiting.append(hit.id)
                yield _sse(
                    "hit",
                    {
                        "id": hit.id,
                        "at": datetime.fromtimestamp(hit.at_us / 1e6, UTC).isoformat(),
                        "kind": KIND_LABELS.get(hit.kind, "hit"),
                        "recipient": hit.recipient,
                        "subject": hit.subject or "",
                        "message": hit.message_public_id,
                        "user_agent": hit.user_agent[:200],
                    },
                    hit.id,
                )
            done = {v.observation_id for v in judged}
            for verdict in judged:
                yield _sse(
                    "verdict",
                    {
                        "id": verdict.observation_id,
                        "audience": audience(verdict.classification),
                        "label": "person" if verdict.counts_for_metrics else "machine",
                        "classification": CLASSIFICATIONS.get(verdict.classification or "", ""),
                        "probability": verdict.probability,
                    },
                )
            waiting = [i for i in waiting if i not in done][-500:]
            if not hits:
                yield b": keep-alive\n\n"
                await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
