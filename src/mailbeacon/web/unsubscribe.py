"""One-click unsubscribe (RFC 8058) at ``/u/{token}``, on the tracking host a copy was sent
with.

- ``POST`` with the body ``List-Unsubscribe=One-Click`` (form-encoded, or multipart as RFC
  8058 3.1 allows): the recipient is unsubscribed (service/unsubscribes.py), once per copy.
  Mailbox providers send it when a person presses their "Unsubscribe" button; the landing
  page's button sends the same.
- ``GET`` answers a page with that button and changes nothing: mail providers, security
  scanners and link previews fetch URLs found in mail on their own, and RFC 8058 3.2 forbids
  a GET from unsubscribing for that reason.

The token is signed for the purpose ``unsubscribe`` and the host's audience (as a click's):
a forged one costs no database work and is a 404. An old copy's link keeps working: a
person's wish to leave does not expire.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..core.errors import ApiError, ForgedToken
from ..core.instrumentation.tokens import TOKEN_LENGTH, Purpose
from ..core.intake.unsubscribe import ONE_CLICK_BODY
from ..service.unsubscribes import unsubscribe
from .services import services_of

__all__ = ["router"]

router = APIRouter(tags=["One-click unsubscribe"])

Token = Annotated[str, Path(min_length=TOKEN_LENGTH, max_length=TOKEN_LENGTH)]
# The page allows nothing to load or run: it is a form and words.
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="icon" href="data:,">
<style>body{{font:1rem/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1rem}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""
_ASK = """<p>You will no longer receive these emails from this sender.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>"""
_DONE = "<p>You are unsubscribed: you will no longer receive these emails from this sender.</p>"
_NAME, _, _VALUE = ONE_CLICK_BODY.partition("=")


async def _copy_of(request: Request, token: str) -> int:
    services = services_of(request)
    audience = await services.hosts.audience(request.headers.get("host", ""))
    try:
        verified = services.codec.verify(
            Purpose.UNSUBSCRIBE, token, today=date.max, audience=audience
        )
    except ForgedToken:
        raise ApiError(404, "No such unsubscribe link.") from None
    return verified.claims.copy_id


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=title, body=body), headers=_HEADERS)


@router.get("/u/{token}", response_class=HTMLResponse, summary="The unsubscribe landing page")
async def landing(request: Request, token: Token) -> HTMLResponse:
    """A page asking to confirm with a button; fetching it unsubscribes nobody."""
    await _copy_of(request, token)
    return _page("Unsubscribe", _ASK)


@router.post("/u/{token}", response_class=HTMLResponse, summary="One-click unsubscribe")
async def one_click(
    request: Request,
    token: Token,
    value: Annotated[str | None, Form(alias=_NAME, max_length=64)] = None,
) -> HTMLResponse:
    """RFC 8058's POST: the body must be ``List-Unsubscribe=One-Click``."""
    if value != _VALUE:
        raise ApiError(400, f"An unsubscribe POST carries the body {ONE_CLICK_BODY} (RFC 8058).")
    copy_id = await _copy_of(request, token)
    services = services_of(request)
    # the write is a transaction: off the event loop, which serves the redirects too
    await run_in_threadpool(unsubscribe, services.db, copy_id, services.clock.now())
    return _page("Unsubscribed", _DONE)
