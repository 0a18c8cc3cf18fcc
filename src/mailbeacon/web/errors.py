"""One error shape for every JSON API (DESIGN.md, invariant 8).

Both official SDKs read it (docs/contracts.md, 0.3): Lettermint reads ``error.code`` and
``error.message`` (and ``errors`` on 422), Lettr reads ``message``, ``error_code`` and
``errors``::

    {"message": "...", "error_code": "validation_error",
     "error": {"code": "validation_error", "message": "...", "details": null},
     "errors": {"to": ["The to field is required."]}}

``errors`` appears only on 422 and always maps a field to a list of strings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.errors import STATUS_CODES, ApiError, DatabaseUnavailable
from ..store.db import is_unavailable

__all__ = ["error_body", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    details: Any = None,
) -> dict[str, Any]:
    code = code or STATUS_CODES.get(status, "error")
    body: dict[str, Any] = {
        "message": message,
        "error_code": code,
        "error": {"code": code, "message": message, "details": details},
    }
    if errors:
        body["errors"] = dict(errors)
    return body


def render(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.status, error.message, error.code, error.errors, error.details),
        status_code=error.status,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    # Every error below an endpoint is an ApiError (core/errors.py): each subclass knows its
    # status, code, field errors and headers, so one handler renders them all.
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return render(exc)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors: dict[str, list[str]] = {}
        for problem in exc.errors():
            location = [
                str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path")
            ]
            errors.setdefault(".".join(location) or "request", []).append(str(problem["msg"]))
        first = next(iter(errors.values()))[0]
        return render(ApiError(422, first, errors=errors))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint."
        return render(ApiError(exc.status_code, message, headers=exc.headers))

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        # The database away (refused, dropped, locked, pool exhausted) is an outage the
        # client can wait out: 503 + Retry-After, never a 500 that looks like a bug.
        if is_unavailable(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            state = request.app.state
            state.database_errors = getattr(state, "database_errors", 0) + 1
            return render(DatabaseUnavailable(str(exc)))
        return await unexpected(request, exc)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return render(ApiError(500, "Internal server error."))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(SQLAlchemyError, database_error)
    app.add_exception_handler(Exception, unexpected)
