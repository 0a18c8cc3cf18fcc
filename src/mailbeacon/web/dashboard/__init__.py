"""The dashboard: server-rendered pages under /dashboard (Jinja2 templates, files vendored
from the npm registry, no CDN), mounted into the JSON API's application by app.py.

It is an application of its own so that its errors are pages, not the APIs' JSON shape, and
its middleware (sign-in, security headers) touch no API request. Writes go through service/,
reads straight to store/ (docs/architecture.md). Modules: sessions (who is looking), csrf,
security (headers, error pages), rendering (templates), one module a page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from ...core.errors import ApiError
from . import domains, live, messages, overview, routes, signin, webhooks
from .rendering import HERE, render
from .security import add_headers, error_page
from .sessions import resolve_viewer

if TYPE_CHECKING:
    from ...service.context import Services

__all__ = ["create_dashboard"]


def create_dashboard(services: Services) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (signin, overview, messages, routes, webhooks, domains, live):
        app.include_router(module.router)
    app.middleware("http")(resolve_viewer)
    app.middleware("http")(add_headers)  # outermost: every answer, redirects included

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            status=exc.status_code,
            message=message,
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        return render(
            request, "error.html", status_code=422, status=422, message="This request is malformed."
        )

    async def api_error(request: Request, exc: Exception) -> Response:
        return error_page(request, exc)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    return app
