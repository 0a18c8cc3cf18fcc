"""Sign in and sign out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from ...core.errors import Refused
from ...service import accounts
from ..services import services_of
from .csrf import LOGIN_COOKIE, Checked, new_login_token, require_login_token
from .rendering import render
from .sessions import COOKIE, is_https, set_session_cookie

__all__ = ["router"]

router = APIRouter()


def _next(target: str) -> str:
    """Only a dashboard path of this site (no open redirect through ?next=)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard"):
        return "/dashboard/"
    return target if not target.startswith("//") else "/dashboard/"


def _client(request: Request) -> str:
    if services_of(request).settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


def _form(request: Request, *, status: int = 200, error: str = "", email: str = "") -> Response:
    token = new_login_token()
    request.state.login_csrf = token
    target = _next(request.query_params.get("next", "/dashboard/"))
    response = render(
        request, "login.html", status_code=status, error=error, email=email, next=target
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/dashboard/login",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    if request.state.viewer is not None:
        return RedirectResponse("/dashboard/", status_code=303)
    return _form(request)


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/dashboard/",
) -> Response:
    require_login_token(request, csrf)
    services = services_of(request)
    if not email.strip() or not password:
        return _form(request, status=422, error="Give your email and password.", email=email)
    try:
        signed = accounts.sign_in(
            services.db, email, password, _client(request), services.clock.now()
        )
    except Refused as exc:  # throttled
        return _form(request, status=exc.status, error=exc.message, email=email)
    if signed is None:
        return _form(request, status=401, error="Wrong email or password.", email=email)
    response = RedirectResponse(_next(next), status_code=303)
    set_session_cookie(request, response, signed.token)
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard/login")
    return response


@router.post("/logout")
def logout(request: Request, viewer: Checked) -> Response:
    accounts.sign_out(services_of(request).db, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response
