"""Who is looking: the session cookie, resolved on every dashboard request.

The cookie holds a random token (service/accounts.py explains the server-side rows); it is
HttpOnly (no script reads it), SameSite=Lax (other sites' forms do not carry it; a link from
an email to the dashboard still does) and Secure when the request came over HTTPS, directly
or through a TLS proxy that says so in X-Forwarded-Proto (Caddy does; trusted only with
MAILBEACON_TRUST_FORWARDED_FOR, the setting that already says a proxy is in front).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...service import accounts
from ..services import services_of

__all__ = ["COOKIE", "ZONE_COOKIE", "is_https", "resolve_viewer", "set_session_cookie"]

COOKIE = "mb_session"
ZONE_COOKIE = "mb_tz"  # the browser's IANA time zone, set by app.js; UTC without it
_PUBLIC = ("/dashboard/login", "/dashboard/static/")


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    trusted = services_of(request).settings.trust_forwarded_for
    return trusted and request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
        path="/dashboard",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def _zone(request: Request) -> ZoneInfo:
    name = unquote(request.cookies.get(ZONE_COOKIE, "UTC"))  # app.js encodes the "/"
    try:
        return ZoneInfo(name) if 0 < len(name) < 64 and ".." not in name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def resolve_viewer(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Attach the signed-in viewer (request.state.viewer) or send the browser to sign in."""
    request.state.zone = _zone(request)
    request.state.viewer = None
    token = request.cookies.get(COOKIE, "")
    if token:
        services = services_of(request)
        request.state.viewer = await run_in_threadpool(
            accounts.session_for, services.db, token, services.clock.now()
        )
    path = request.url.path
    if request.state.viewer is None and not path.startswith(_PUBLIC):
        if request.method != "GET":
            return Response("Sign in first.", status_code=403)
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/dashboard/login?next={quote(target)}", status_code=303)
    return await call_next(request)
