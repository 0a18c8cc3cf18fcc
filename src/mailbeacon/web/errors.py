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
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.errors import Refused
from ..core.intake.submission import SubmissionError
from ..service.accept import AcceptError

__all__ = ["ApiError", "error_body", "install_error_handlers"]

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, raised anywhere below an endpoint."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.errors = dict(errors) if errors else None
        self.details = details
        self.headers = dict(headers or {})


def error_body(
    status: int,
    message: str,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
    details: Any = None,
) -> dict[str, Any]:
    code = code or _CODES.get(status, "error")
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
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return render(exc)

    async def submission_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SubmissionError)
        return render(ApiError(422, str(exc), errors=exc.errors))

    async def accept_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AcceptError)
        errors = {exc.field: [str(exc)]} if exc.field and exc.status == 422 else None
        headers = {"Retry-After": "1"} if exc.code == "idempotency_in_progress" else None
        return render(ApiError(exc.status, str(exc), code=exc.code, errors=errors, headers=headers))

    async def refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Refused)
        return render(ApiError(exc.status, str(exc), code=exc.code, errors=exc.errors))

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

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return render(ApiError(500, "Internal server error."))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(SubmissionError, submission_error)
    app.add_exception_handler(AcceptError, accept_error)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
