"""Webhooks: create and edit (events, machine events or not), the signing secret shown once
(on creation and on regeneration), a test delivery, the delivery log with retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from ...core.errors import ApiError
from ...core.lettermint.webhooks import SUBSCRIPTIONS as LETTERMINT_EVENTS
from ...service import webhooks as service
from ...store import queries
from ...store import webhook_deliveries as log
from ...store import webhooks as store
from ...store.accounts import SessionRow
from ..services import services_of
from .csrf import Checked
from .rendering import render

__all__ = ["router"]

router = APIRouter()

# What mailbeacon emits; the rest of Lettermint's vocabulary would never be delivered.
EVENTS = (
    "message.created",
    "message.sent",
    "message.failed",
    "message.opened",
    "message.clicked",
    "message.hard_bounced",
    "message.soft_bounced",
    "message.suppressed",
    "message.unsubscribed",
)
LOG_SIZE = 50
assert set(EVENTS) <= set(LETTERMINT_EVENTS)


def _list(
    request: Request, *, error: str = "", status: int = 200, typed: FormData | None = None
) -> Response:
    viewer: SessionRow = request.state.viewer
    with services_of(request).db.read() as conn:
        hooks = store.list_webhooks(conn, viewer.user.team.id)
    return render(
        request,
        "webhooks.html",
        status_code=status,
        page_name="webhooks",
        hooks=hooks,
        events=EVENTS,
        error=error,
        typed=dict(typed or {}),
        typed_events=typed.getlist("events") if typed else ["message.opened", "message.clicked"],
    )


def _detail(
    request: Request, webhook_id: str, *, secret: str = "", error: str = "", status: int = 200
) -> Response:
    viewer: SessionRow = request.state.viewer
    with services_of(request).db.read() as conn:
        hook = service.webhook_of(conn, viewer.user.team, webhook_id)
        page = log.delivery_page(
            conn, hook.id, log.DeliveryFilter(), queries.Seek(LOG_SIZE), newest_first=True
        )
    return render(
        request,
        "webhook.html",
        status_code=status,
        page_name="webhooks",
        hook=hook,
        events=EVENTS,
        deliveries=page.rows,
        secret=secret,
        error=error,
        notice=request.query_params.get("notice", ""),
    )


@router.get("/webhooks")
def webhook_list(request: Request) -> Response:
    return _list(request)


async def _form(request: Request) -> FormData:
    return await request.form()


@router.post("/webhooks")
def webhook_create(
    request: Request, viewer: Checked, form: Annotated[FormData, Depends(_form)]
) -> Response:
    services = services_of(request)
    new = service.NewWebhook(
        name=str(form.get("name", "")).strip() or "Webhook",
        url=str(form.get("url", "")).strip(),
        events=[str(e) for e in form.getlist("events")],
        include_machine_events=form.get("include_machine_events") == "on",
    )
    if not new.events:
        return _list(request, error="Choose at least one event.", status=422, typed=form)
    try:
        hook = service.create_webhook(
            services.db,
            viewer.user.team,
            services.clock.now(),
            new,
            allow_private=services.settings.webhook_allow_private_networks,
        )
    except ApiError as exc:  # a URL webhooks may not call, unknown events
        return _list(request, error=exc.message, status=exc.status, typed=form)
    return _detail(request, hook.public_id, secret=hook.secret, status=201)


@router.get("/webhooks/{webhook_id}")
def webhook_detail(request: Request, webhook_id: str) -> Response:
    return _detail(request, webhook_id)


@router.post("/webhooks/{webhook_id}")
def webhook_update(
    request: Request,
    webhook_id: str,
    viewer: Checked,
    form: Annotated[FormData, Depends(_form)],
) -> Response:
    services = services_of(request)
    changes = service.WebhookChanges(
        name=str(form.get("name", "")).strip() or None,
        url=str(form.get("url", "")).strip() or None,
        events=[str(e) for e in form.getlist("events")] or None,
        include_machine_events=form.get("include_machine_events") == "on",
        enabled=form.get("enabled") == "on",
    )
    try:
        service.update_webhook(
            services.db,
            viewer.user.team,
            webhook_id,
            services.clock.now(),
            changes,
            allow_private=services.settings.webhook_allow_private_networks,
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _detail(request, webhook_id, error=exc.message, status=exc.status)
    return RedirectResponse(f"/dashboard/webhooks/{webhook_id}?notice=saved", status_code=303)


@router.post("/webhooks/{webhook_id}/test")
def webhook_test(request: Request, webhook_id: str, viewer: Checked) -> Response:
    services = services_of(request)
    service.test_webhook(services.db, viewer.user.team, webhook_id, services.clock.now())
    return RedirectResponse(f"/dashboard/webhooks/{webhook_id}?notice=test", status_code=303)


@router.post("/webhooks/{webhook_id}/secret")
def webhook_secret(request: Request, webhook_id: str, viewer: Checked) -> Response:
    services = services_of(request)
    hook = service.regenerate_secret(
        services.db, viewer.user.team, webhook_id, services.clock.now()
    )
    return _detail(request, webhook_id, secret=hook.secret)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry")
def delivery_retry(
    request: Request, webhook_id: str, delivery_id: str, viewer: Checked
) -> Response:
    services = services_of(request)
    try:
        service.retry_delivery(
            services.db, viewer.user.team, webhook_id, delivery_id, services.clock.now()
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        return _detail(request, webhook_id, error=exc.message, status=exc.status)
    return RedirectResponse(f"/dashboard/webhooks/{webhook_id}?notice=retry", status_code=303)
