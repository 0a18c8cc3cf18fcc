"""Lettr's webhooks under /api: list, get, create, update (PUT), delete.

The same webhooks as the Team API's (service/webhooks.py makes every change, guards the URL
and normalises the event names), seen through a project's key: a webhook created here listens
to the key's project only (scope ``project``), speaks Lettr's format (SparkPost's event
batches, core/lettr/webhooks.py) and counts people only (Lettr has no flag for machine
engagement). This key sees exactly those: Lettr-format webhooks of its own project alone.
Another project's webhook, or one the team made for several projects, is a 404 here.

Lettr's words, mapped:

====================  ======================================================================
Lettr                 mailbeacon
====================  ======================================================================
events_mode all       every Lettr event name (core/lettr/webhooks.py ALL_EVENTS), answered
                      as ``event_types: null``, as Lettr answers it
events, event_types   the subscription, normalised (``click`` -> ``engagement.click``)
active, enabled       enabled; turning a webhook off gives up what it had yet to deliver
auth_type basic       ``basic_auth``: sent as ``Authorization: Basic`` on every delivery
auth_type oauth2      refused (422): the dispatcher does not fetch OAuth2 tokens
last_status           ``success`` or ``failure``, whichever of the two came last
====================  ======================================================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy import Connection

from ...core.errors import ApiError
from ...core.lettr.webhooks import ALL_EVENTS
from ...core.webhooks.subscriptions import Webhook
from ...service import webhooks as service
from ...store import tenancy
from ...store import webhook_deliveries as outbox
from ...store import webhooks as store
from ..auth import sending_project
from ..services import services_of
from .shapes import timestamp

__all__ = ["router", "webhook_view"]

router = APIRouter(tags=["Lettr API: webhooks"])

Project = Annotated[tenancy.Project, Depends(sending_project)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# Lettr takes 2,048 characters; mailbeacon's column holds 500 (the Team API's limit too).
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
AuthType = Literal["none", "basic", "oauth2"]
Events = Annotated[list[str], Field(min_length=1)]


class _Auth(BaseModel):
    auth_type: AuthType | None = None
    auth_username: Text | None = None
    auth_password: Text | None = None
    oauth_client_id: Text | None = None
    oauth_client_secret: Text | None = None
    oauth_token_url: Url | None = None


class StoreWebhook(_Auth):
    name: Text
    url: Url
    auth_type: AuthType
    events_mode: Literal["all", "selected"]
    events: Events | None = None


class UpdateWebhook(_Auth):
    name: Text | None = None
    url: Url | None = None
    target: Url | None = None  # Lettr's deprecated alias of url
    events: Events | None = None
    active: StrictBool | None = None


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, errors={field: [message]})


def _basic_auth(body: _Auth, current: tuple[str, str] | None) -> tuple[bool, dict[str, str] | None]:
    """Whether the body changes the credentials, and to what (None: none). A credential left
    out of an update keeps its value."""
    if body.auth_type == "oauth2" or body.oauth_client_id or body.oauth_token_url:
        message = "OAuth2 is not supported by this server: use auth_type none or basic."
        raise _invalid("auth_type", message)
    if body.auth_type == "none":
        return True, None
    if body.auth_type is None:
        if not (body.auth_username or body.auth_password):
            return False, None
        if current is None:
            raise _invalid("auth_type", "Set auth_type to basic to send credentials.")
    kept = current or ("", "")
    username, password = body.auth_username or kept[0], body.auth_password or kept[1]
    for field, value in (("auth_username", username), ("auth_password", password)):
        if not value:
            raise _invalid(field, f"The {field} field is required when auth_type is basic.")
    return True, {"username": username, "password": password}


def _visible(hook: Webhook, project: tenancy.Project) -> bool:
    return hook.format == "lettr" and hook.scope == "project" and hook.project_ids == (project.id,)


def _webhooks_of(conn: Connection, project: tenancy.Project) -> list[Webhook]:
    return [h for h in store.list_webhooks(conn, project.team_id) if _visible(h, project)]


def _webhook_of(conn: Connection, project: tenancy.Project, webhook_id: str) -> Webhook:
    hook = store.webhook_for_team(conn, project.team_id, webhook_id)
    if hook is None or not _visible(hook, project):
        raise ApiError(404, "Webhook not found.")
    return hook


def _team(conn: Connection, project: tenancy.Project) -> tenancy.Team:
    team = tenancy.team_by_id(conn, project.team_id)
    assert team is not None  # a project's team is deleted with it
    return team


def webhook_view(hook: Webhook, outcomes: outbox.LastOutcomes) -> dict[str, Any]:
    """Lettr's Webhook (``WebhookView``)."""
    succeeded, failed = outcomes.succeeded_at, outcomes.failed_at
    last = None
    if succeeded or failed:
        later_failure = failed is not None and (succeeded is None or failed > succeeded)
        last = "failure" if later_failure else "success"
    return {
        "id": hook.public_id,
        "name": hook.name,
        "url": hook.url,
        "enabled": hook.enabled,
        "event_types": None if set(hook.events) >= set(ALL_EVENTS) else list(hook.events),
        "auth_type": "basic" if hook.basic_auth else "none",
        "has_auth_credentials": hook.basic_auth is not None,
        "last_successful_at": timestamp(succeeded) if succeeded else None,
        "last_failure_at": timestamp(failed) if failed else None,
        "last_status": last,
    }


def _view(conn: Connection, hook: Webhook) -> dict[str, Any]:
    return webhook_view(hook, outbox.last_outcomes(conn, hook.id))


def _allow_private(request: Request) -> bool:
    return services_of(request).settings.webhook_allow_private_networks


@router.get("/webhooks", summary="List the project's webhooks")
def list_webhooks(request: Request, project: Project) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        found = [_view(conn, hook) for hook in _webhooks_of(conn, project)]
    return {"message": "Webhooks retrieved successfully.", "data": {"webhooks": found}}


@router.get("/webhooks/{webhook_id}", summary="Get a webhook")
def get_webhook(request: Request, project: Project, webhook_id: str) -> dict[str, Any]:
    with services_of(request).db.read() as conn:
        found = _view(conn, _webhook_of(conn, project, webhook_id))
    return {"message": "Webhook retrieved successfully.", "data": found}


@router.post("/webhooks", status_code=201, summary="Create a webhook")
def create_webhook(request: Request, project: Project, body: StoreWebhook) -> dict[str, Any]:
    """409 ``resource_already_exists`` when one of the project's webhooks has this URL."""
    if body.events_mode == "selected" and not body.events:
        raise _invalid("events", "The events field is required when events_mode is selected.")
    _, basic_auth = _basic_auth(body, None)
    services = services_of(request)
    with services.db.read() as conn:
        if any(hook.url == body.url for hook in _webhooks_of(conn, project)):
            message = "A webhook with this target URL already exists."
            raise ApiError(409, message, code="resource_already_exists")
        team = _team(conn, project)
    new = service.NewWebhook(
        name=body.name,
        url=body.url,
        events=list(ALL_EVENTS if body.events_mode == "all" else body.events or ()),
        format="lettr",
        targets=service.TargetRequest("project", [project.public_id]),
        basic_auth=basic_auth,
    )
    hook = service.create_webhook(
        services.db, team, services.clock.now(), new, allow_private=_allow_private(request)
    )
    with services.db.read() as conn:
        return {"message": "Webhook created successfully.", "data": _view(conn, hook)}


@router.put("/webhooks/{webhook_id}", summary="Update a webhook")
def update_webhook(
    request: Request, project: Project, webhook_id: str, body: UpdateWebhook
) -> dict[str, Any]:
    """Only the keys given change (``target`` is Lettr's old name for ``url``)."""
    if body.url is not None and body.target is not None:
        raise _invalid("target", "Send url or target (deprecated), not both.")
    services = services_of(request)
    with services.db.read() as conn:
        hook = _webhook_of(conn, project, webhook_id)
        team = _team(conn, project)
    given, basic_auth = _basic_auth(body, hook.basic_auth)
    changes = service.WebhookChanges(
        name=body.name,
        url=body.url or body.target,
        events=body.events,
        basic_auth=basic_auth,
        basic_auth_given=given,
        enabled=body.active,
    )
    hook = service.update_webhook(
        services.db,
        team,
        hook.public_id,
        services.clock.now(),
        changes,
        allow_private=_allow_private(request),
    )
    with services.db.read() as conn:
        return {"message": "Webhook updated successfully.", "data": _view(conn, hook)}


@router.delete("/webhooks/{webhook_id}", summary="Delete a webhook")
def delete_webhook(request: Request, project: Project, webhook_id: str) -> dict[str, Any]:
    """The webhook and its delivery log."""
    services = services_of(request)
    with services.db.read() as conn:
        hook = _webhook_of(conn, project, webhook_id)
        team = _team(conn, project)
    service.delete_webhook(services.db, team, hook.public_id)
    return {"message": "Webhook deleted successfully."}
