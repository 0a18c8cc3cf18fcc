"""Lettermint's webhooks endpoints under /v1 (team token): the webhooks, their tests and
secrets, and the delivery log with manual retries. Shapes in webhook_shapes.py.

Every lookup goes through the caller's team: another team's webhook is a 404, as is one
that does not exist (DESIGN.md, invariant 6). Changes go through service/webhooks.py, which
refuses a URL that is not http(s), carries credentials (they belong in ``basic_auth``), or
resolves to an address webhooks may not call, and normalises the events for the format: here
both refusals become a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from sqlalchemy import Connection

from ...core.errors import ApiError
from ...core.webhooks.subscriptions import Webhook
from ...service import webhooks
from ...store import tenancy
from ...store import webhook_deliveries as outbox
from ...store import webhooks as store
from ..auth import team
from ..services import services_of
from . import shapes
from . import webhook_shapes as views
from .bodies import Paging, ordered, sort_order, window
from .messages import _seek, moment

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Team API: webhooks"])

Caller = Annotated[tenancy.Team, Depends(team)]
WEBHOOK_SORTS: dict[str, Callable[[Webhook], Any]] = {
    "name": lambda w: w.name.lower(),
    "url": lambda w: w.url,
    "created_at": lambda w: w.created_at,
}
DELIVERY_SORTS = ("created_at", "attempt_number")


def webhook_paging(
    size: Annotated[int, Query(alias="page[size]", ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query()] = None,
) -> Paging:
    """The webhooks lists page with a plain ``cursor`` (docs/contracts.md 1.3)."""
    return Paging(size, cursor or None)


Page = Annotated[Paging, Depends(webhook_paging)]


# --- checks -----------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, errors={field: [message]})


def _targets(body: views.WebhookBody) -> webhooks.TargetRequest:
    """What the body names; Lettermint's older single ``route_id`` is a list of one."""
    route_ids = list(body.route_ids or ([body.route_id] if body.route_id else []))
    return webhooks.TargetRequest(body.scope, list(body.project_ids or []), route_ids)


def _allow_private(request: Request) -> bool:
    return services_of(request).settings.webhook_allow_private_networks


# --- views ------------------------------------------------------------------------------------


def _view(conn: Connection, hook: Webhook, *, secret: bool = False) -> dict[str, Any]:
    projects, routes = store.public_ids(conn, hook.project_ids, hook.route_ids)
    return views.webhook_data(hook, projects, routes, secret=secret)


@dataclass(frozen=True, slots=True)
class WebhookFilter:
    project: str | None
    enabled: bool | None
    event: str | None
    route_id: str | None
    scope: str | None
    search: str | None


def webhook_filters(
    project: Annotated[str | None, Query(alias="filter[project]")] = None,
    enabled: Annotated[bool | None, Query(alias="filter[enabled]")] = None,
    event: Annotated[str | None, Query(alias="filter[event]")] = None,
    route_id: Annotated[str | None, Query(alias="filter[route_id]")] = None,
    scope: Annotated[str | None, Query(alias="filter[scope]")] = None,
    search: Annotated[str | None, Query(alias="filter[search]")] = None,
) -> WebhookFilter:
    return WebhookFilter(project, enabled, event, route_id, scope, search)


def _matches(
    hook: Webhook, where: WebhookFilter, projects: dict[int, str], routes: dict[int, str]
) -> bool:
    project_ids = {projects[i] for i in hook.project_ids if i in projects}
    route_ids = {routes[i] for i in hook.route_ids if i in routes}
    needle = (where.search or "").lower()
    checks = (
        where.enabled is None or hook.enabled == where.enabled,
        where.scope is None or hook.scope == where.scope,
        where.event is None or where.event in hook.events,
        where.route_id is None or where.route_id in route_ids,
        where.project is None or hook.scope == "team" or where.project in project_ids,
        not needle or needle in hook.name.lower() or needle in hook.url.lower(),
    )
    return all(checks)


# --- webhooks ---------------------------------------------------------------------------------


@router.get("/webhooks", summary="List the team's webhooks")
def list_webhooks(
    request: Request,
    caller: Caller,
    page: Page,
    where: Annotated[WebhookFilter, Depends(webhook_filters)],
    sort: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """A team's webhooks are tens: read whole, filtered and sorted here."""
    with services_of(request).db.read() as conn:
        found = store.list_webhooks(conn, caller.id)
        projects, routes = store.public_ids(
            conn,
            {i for h in found for i in h.project_ids},
            {i for h in found for i in h.route_ids},
        )
    found = [h for h in found if _matches(h, where, projects, routes)]
    found = ordered(found, sort, WEBHOOK_SORTS, lambda h: h.id)
    part = window([h.public_id for h in found], page)
    data = []
    for hook in found[part.start : part.stop]:
        view = views.webhook_data(hook, projects, routes)
        del view["include_machine_events"]  # not in WebhookListData
        data.append(view)
    return shapes.cursor_page(
        request, data, page.size, next_id=part.next_id, prev_id=part.prev_id, cursor_param="cursor"
    )


@router.post("/webhooks", status_code=201, summary="Create a webhook")
def create_webhook(request: Request, caller: Caller, body: views.StoreWebhook) -> dict[str, Any]:
    """The webhook with its signing secret (``whsec_...``), shown now and on regeneration."""
    services = services_of(request)
    new = webhooks.NewWebhook(
        name=body.name,
        url=body.url,
        events=body.events,
        format=body.format,
        enabled=body.enabled,
        include_machine_events=body.include_machine_events,
        targets=_targets(body),
        delivery_mode_filter=body.delivery_mode_filter,
        basic_auth=body.basic_auth.model_dump() if body.basic_auth else None,
    )
    # A refused URL or unknown event names answer themselves: 422s on "url" / "events".
    hook = webhooks.create_webhook(
        services.db, caller, services.clock.now(), new, allow_private=_allow_private(request)
    )
    with services.db.read() as conn:
        data = _view(conn, hook, secret=True)
    return {"data": data, "message": "Webhook created."}


@router.get("/webhooks/{webhook_id}", summary="Retrieve a webhook")
def retrieve_webhook(request: Request, caller: Caller, webhook_id: str) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        return _view(conn, webhooks.webhook_of(conn, caller, webhook_id))


@router.put("/webhooks/{webhook_id}", summary="Update a webhook")
def update_webhook(
    request: Request,
    caller: Caller,
    webhook_id: str,
    body: Annotated[views.UpdateWebhook | None, Body()] = None,
) -> dict[str, Any]:
    """Changes only the keys given. Turning a webhook off gives up what it had yet to
    deliver; turning it on again clears why it was off."""
    services = services_of(request)
    now = services.clock.now()
    body = body or views.UpdateWebhook()
    given = body.model_fields_set
    changes = webhooks.WebhookChanges(
        name=body.name,
        url=body.url,
        include_machine_events=body.include_machine_events,
        delivery_mode_filter=body.delivery_mode_filter,
        format=body.format,
        events=body.events,
        targets=_targets(body)
        if given & {"scope", "project_ids", "route_ids", "route_id"}
        else None,
        basic_auth=body.basic_auth.model_dump() if body.basic_auth else None,
        basic_auth_given="basic_auth" in given,
        enabled=body.enabled,
    )
    hook = webhooks.update_webhook(
        services.db, caller, webhook_id, now, changes, allow_private=_allow_private(request)
    )
    with services.db.read() as conn:
        data = _view(conn, hook)
    return {"data": data, "message": "Webhook updated."}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook and its delivery log")
def delete_webhook(request: Request, caller: Caller, webhook_id: str) -> dict[str, Any]:
    webhooks.delete_webhook(services_of(request).db, caller, webhook_id)
    return {"message": "Webhook deleted."}


@router.post("/webhooks/{webhook_id}/test", summary="Send a webhook.test event")
def test_webhook(request: Request, caller: Caller, webhook_id: str) -> dict[str, Any]:
    """Queues a ``webhook.test`` delivery, whatever the webhook subscribes to and even while
    it is off (to try an endpoint before turning it on)."""
    services = services_of(request)
    delivery_id = webhooks.test_webhook(services.db, caller, webhook_id, services.clock.now())
    return {"message": "Test delivery queued.", "delivery_id": delivery_id}


@router.post("/webhooks/{webhook_id}/regenerate-secret", summary="Make a new signing secret")
def regenerate_secret(request: Request, caller: Caller, webhook_id: str) -> dict[str, Any]:
    """Deliveries from now on are signed with the new secret only."""
    services = services_of(request)
    hook = webhooks.regenerate_secret(services.db, caller, webhook_id, services.clock.now())
    with services.db.read() as conn:
        data = _view(conn, hook, secret=True)
    return {"data": data, "message": "Secret regenerated."}


# --- deliveries -------------------------------------------------------------------------------


def delivery_filters(
    status: Annotated[str | None, Query(alias="filter[status]")] = None,
    event_type: Annotated[str | None, Query(alias="filter[event_type]")] = None,
    from_date: Annotated[str | None, Query(alias="filter[from_date]")] = None,
    to_date: Annotated[str | None, Query(alias="filter[to_date]")] = None,
) -> outbox.DeliveryFilter:
    if status is not None and status not in views.DELIVERY_STATUSES:
        choices = ", ".join(views.DELIVERY_STATUSES)
        raise _invalid("filter[status]", f"Use one of {choices}.")
    return outbox.DeliveryFilter(
        status=status,
        event_type=event_type,
        created_from=moment(from_date, "filter[from_date]", end_of_day=False),
        created_to=moment(to_date, "filter[to_date]", end_of_day=True),
    )


@router.get("/webhooks/{webhook_id}/deliveries", summary="List a webhook's deliveries")
def list_deliveries(
    request: Request,
    caller: Caller,
    webhook_id: str,
    page: Page,
    where: Annotated[outbox.DeliveryFilter, Depends(delivery_filters)],
    sort: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Newest first unless ``sort=created_at``."""
    services = services_of(request)
    newest_first = sort_order(sort, key="-created_at", allowed=DELIVERY_SORTS)
    with services.db.read() as conn:
        hook = webhooks.webhook_of(conn, caller, webhook_id)
        seek = _seek(page, lambda public_id: outbox.delivery_cursor_id(conn, hook.id, public_id))
        found = outbox.delivery_page(conn, hook.id, where, seek, newest_first=newest_first)
    rows = found.rows
    return shapes.cursor_page(
        request,
        [views.delivery_list_data(d, hook) for d in rows],
        page.size,
        next_id=rows[-1].public_id if rows and found.has_after else None,
        prev_id=rows[0].public_id if rows and found.has_before else None,
        cursor_param="cursor",
    )


def _delivery_of(conn: Connection, hook: Webhook, delivery_id: str) -> outbox.DeliveryRecord:
    found = outbox.delivery_for_webhook(conn, hook.id, delivery_id)
    if found is None:
        raise ApiError(404, "No such delivery.")
    return found


@router.get("/webhooks/{webhook_id}/deliveries/{delivery_id}", summary="Retrieve a delivery")
def retrieve_delivery(
    request: Request, caller: Caller, webhook_id: str, delivery_id: str
) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        hook = webhooks.webhook_of(conn, caller, webhook_id)
        delivery = _delivery_of(conn, hook, delivery_id)
        attempts = outbox.attempts_of(conn, delivery.id)
    return views.delivery_data(delivery, hook, attempts)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    summary="Deliver again",
)
def retry_delivery(
    request: Request, caller: Caller, webhook_id: str, delivery_id: str
) -> dict[str, Any]:
    """Sends the same delivery (same id, same body) again, now. 409 while the webhook is off
    or the delivery still has an attempt pending or in flight."""
    services = services_of(request)
    delivery = webhooks.retry_delivery(
        services.db, caller, webhook_id, delivery_id, services.clock.now()
    )
    return {"message": "Delivery queued.", "delivery_id": delivery.public_id}
