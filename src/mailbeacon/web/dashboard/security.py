"""The headers every dashboard answer carries, and HTML answers for errors.

The Content-Security-Policy allows this origin only: scripts and styles come from files
served by mailbeacon (no inline script, no CDN), nothing may frame the dashboard, forms post
only here. The captured copy of an email is the one page with its own, stricter policy
(web/dashboard/messages.py): it is the sender's HTML, shown in a sandboxed frame.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ...core.errors import ApiError
from .rendering import render

__all__ = ["COPY_CSP", "CSP", "add_headers", "error_page"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; frame-src 'self'"
)
# The captured email: no script at all, images only inline (a tracking pixel or remote image
# would be a request to another origin, and an open recorded by the viewer itself).
COPY_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)


async def add_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.setdefault("content-security-policy", CSP)
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers.setdefault("x-frame-options", "DENY")
    if not request.url.path.startswith("/dashboard/static/"):
        response.headers["cache-control"] = "no-store"  # pages hold the team's data
    return response


def error_page(request: Request, exc: Exception) -> Response:
    """Refusals (404 for another team's object, 422, 429...) as a page, not JSON."""
    assert isinstance(exc, ApiError)
    return render(
        request, "error.html", status_code=exc.status, status=exc.status, message=exc.message
    )
