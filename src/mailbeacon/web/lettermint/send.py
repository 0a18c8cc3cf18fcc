"""Lettermint's Sending API under /v1: send, send a batch, ping."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ...core.errors import ApiError, BatchInterrupted, SubmissionError
from ...core.lettermint.submission import from_lettermint
from ...service import sending
from ...service.accept import Accepted, body_hash, intake_from_submission
from ...store import tenancy
from ..auth import either, sending_project
from ..services import services_of

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Sending API"])

MAX_BATCH = 500
_SEND_SCOPE = "lettermint.send"


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ApiError(
            422,
            "The Idempotency-Key must be 1 to 255 characters.",
            errors={"Idempotency-Key": ["Use 1 to 255 characters."]},
        )
    return key


def _created(accepted: Accepted) -> dict[str, Any]:
    """PendingSendMailResponse; with ``suppressed_recipients`` (mailbeacon's) naming the
    recipients refused for being on the suppression list, and why."""
    answer: dict[str, Any] = {"message_id": accepted.public_id, "status": "pending"}
    if accepted.suppressed:
        answer["suppressed_recipients"] = [
            {"email": address, "reason": reason} for address, reason in accepted.suppressed.items()
        ]
    return answer


@router.post("/send", status_code=202, summary="Send an email")
def send(
    request: Request,
    project: Annotated[tenancy.Project, Depends(sending_project)],
    body: Annotated[Any, Body()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    services = services_of(request)
    now = services.clock.now()
    submission = from_lettermint(body)
    status, response, replayed = sending.send(
        services,
        project,
        [intake_from_submission(submission, "lettermint", now)],
        now,
        scope=_SEND_SCOPE,
        key=_check_key(idempotency_key),
        request_hash=body_hash(body),
        respond=lambda accepted: (202, _created(accepted[0])),
    )
    headers = {"Idempotency-Replayed": "true"} if replayed else None
    return JSONResponse(response, status_code=status, headers=headers)


@router.post("/send/batch", status_code=202, summary="Send up to 500 emails")
def send_batch(
    request: Request,
    project: Annotated[tenancy.Project, Depends(sending_project)],
    body: Annotated[Any, Body()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """All or nothing: the batch is stored in one transaction. An item's own
    ``idempotency_key`` behaves as if that item were sent alone with that key."""
    if not isinstance(body, list) or not body:
        raise ApiError(
            422,
            "The request body must be a non-empty list of emails.",
            errors={"body": ["Send a JSON array of 1 to 500 emails."]},
        )
    if len(body) > MAX_BATCH:
        raise ApiError(
            422,
            f"A batch holds at most {MAX_BATCH} emails.",
            errors={"body": [f"At most {MAX_BATCH} emails per batch."]},
        )
    services = services_of(request)
    now = services.clock.now()
    errors: dict[str, list[str]] = {}
    submissions = []
    item_keys: list[str | None] = []
    for index, item in enumerate(body):
        payload = dict(item) if isinstance(item, dict) else item
        key = payload.pop("idempotency_key", None) if isinstance(payload, dict) else None
        if key is not None and not (isinstance(key, str) and 1 <= len(key) <= 255):
            errors[f"{index}.idempotency_key"] = ["Use a string of 1 to 255 characters."]
        item_keys.append(key)
        try:
            submissions.append((from_lettermint(payload), payload))
        except SubmissionError as exc:
            for field, messages in exc.errors.items():
                errors[f"{index}.{field}"] = messages
    keys = [k for k in item_keys if k is not None]
    if len(keys) != len(set(keys)):
        errors["idempotency_key"] = ["Item idempotency keys must be unique within a batch."]
    if errors:
        raise ApiError(422, next(iter(errors.values()))[0], errors=errors)
    items = [
        sending.BatchItem(
            intake_from_submission(submission, "lettermint", now), key, body_hash(payload)
        )
        for (submission, payload), key in zip(submissions, item_keys, strict=True)
    ]
    # The batch's own key covers only the items without a key of their own: with none, it
    # is not used, and was never checked.
    batch_key = _check_key(idempotency_key) if None in item_keys else None
    try:
        responses = sending.send_batch(
            services,
            project,
            items,
            now,
            scope="lettermint.batch",
            item_scope=_SEND_SCOPE,
            key=batch_key,
            request_hash=body_hash(body),
            status=202,
            answer=_created,
        )
    except BatchInterrupted as exc:
        done = [{"index": i, "message_id": r["message_id"]} for i, r in exc.accepted]
        field_errors = {exc.field: [str(exc)]} if exc.field and exc.status == 422 else None
        raise ApiError(
            exc.status, str(exc), code=exc.code, errors=field_errors, details={"accepted": done}
        ) from exc
    return JSONResponse(responses, status_code=202)


@router.get("/ping", summary="Check the API and the token", response_class=PlainTextResponse)
def ping(_: Annotated[object, Depends(either)]) -> PlainTextResponse:
    return PlainTextResponse("pong")
