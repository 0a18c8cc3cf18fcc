"""What the webhooks endpoints accept and answer, in Lettermint's shapes (docs/contracts.md
1.4-1.6: StoreWebhookData, UpdateWebhookData, WebhookData, WebhookSecretData,
WebhookDeliveryListData, WebhookDeliveryData).

mailbeacon adds to WebhookData ``format`` (``lettermint`` or ``lettr``) and
``disabled_reason`` (why mailbeacon turned the webhook off, e.g. a 410 from the receiver), and
to WebhookDeliveryData the ``attempts`` log. The SDK ignores keys it does not know.

``basic_auth`` is write-only, as in Lettermint: omitted keeps the credentials, null removes
them. Lettermint's body has it for every webhook; Lettr offers it too (``auth_type: basic``),
so both formats take it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from ...core.webhooks.subscriptions import Webhook
from ...service.webhooks import Targets
from ...store.webhook_deliveries import AttemptRecord, DeliveryRecord
from .shapes import iso

__all__ = [
    "DELIVERY_STATUSES",
    "BasicAuth",
    "StoreWebhook",
    "Targets",
    "UpdateWebhook",
    "delivery_data",
    "delivery_list_data",
    "webhook_data",
]

DELIVERY_STATUSES = ("pending", "success", "failed", "client_error", "server_error", "timeout")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Secretish = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class BasicAuth(BaseModel):
    username: Secretish
    password: Secretish


class WebhookBody(BaseModel):
    """What StoreWebhookData and UpdateWebhookData share; every key optional."""

    name: Name | None = None
    url: Url | None = None
    events: Annotated[list[str], Field(min_length=1)] | None = None
    enabled: StrictBool | None = None
    include_machine_events: StrictBool | None = None
    format: Literal["lettermint", "lettr"] | None = None
    delivery_mode_filter: Literal["live", "sandbox", "both"] | None = None
    scope: Literal["team", "project", "route"] | None = None
    project_ids: list[str] | None = None
    route_ids: list[str] | None = None
    route_id: str | None = None  # Lettermint's older single route
    basic_auth: BasicAuth | None = None


class StoreWebhook(WebhookBody):
    name: Name
    url: Url
    events: Annotated[list[str], Field(min_length=1)]


class UpdateWebhook(WebhookBody):
    pass


def webhook_data(
    hook: Webhook, projects: dict[int, str], routes: dict[int, str], *, secret: bool = False
) -> dict[str, Any]:
    """WebhookData (WebhookSecretData with ``secret``); ``projects`` and ``routes`` map the
    ids it names to public ids."""
    route_ids = [routes[i] for i in hook.route_ids if i in routes]
    data: dict[str, Any] = {
        "id": hook.public_id,
        "scope": hook.scope,
        "project_ids": [projects[i] for i in hook.project_ids if i in projects],
        "route_ids": route_ids,
        "route_id": route_ids[0] if len(route_ids) == 1 else None,
        "name": hook.name,
        "url": hook.url,
        "format": hook.format,
        "has_basic_auth": hook.basic_auth is not None,
        "events": list(hook.events),
        "enabled": hook.enabled,
        "disabled_reason": hook.disabled_reason,
        "include_machine_events": hook.include_machine_events,
        "delivery_mode_filter": hook.delivery_mode_filter,
        "last_called_at": iso(hook.last_called_at),
        "created_at": iso(hook.created_at),
        "updated_at": iso(hook.updated_at),
    }
    if secret:
        data["secret"] = hook.secret
    return data


def delivery_list_data(delivery: DeliveryRecord, hook: Webhook) -> dict[str, Any]:
    return {
        "id": delivery.public_id,
        "webhook_id": hook.public_id,
        "event_type": delivery.event_type,
        "source_scope": hook.scope,
        "source_project_id": delivery.project_public_id,
        "source_route_id": delivery.route_public_id,
        "status": delivery.status,
        "sandbox": delivery.sandbox,
        "attempt_number": delivery.attempt_number,
        "http_status_code": delivery.http_status_code,
        "duration_ms": delivery.duration_ms,
        "delivered_at": iso(delivery.delivered_at),
        "created_at": iso(delivery.created_at),
        "next_retry_at": iso(delivery.next_retry_at),
    }


def _attempt(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt_number": attempt.attempt_number,
        "timestamp": iso(attempt.at),
        "status": attempt.status,
        "http_status_code": attempt.http_status_code,
        "duration_ms": attempt.duration_ms,
        "response_body": attempt.response_body,
        "error_message": attempt.error_message,
    }


def delivery_data(
    delivery: DeliveryRecord, hook: Webhook, attempts: list[AttemptRecord]
) -> dict[str, Any]:
    """WebhookDeliveryData: ``payload`` is the body as sent (parsed), ``timestamp`` when the
    delivery was made, ``attempts`` every attempt in order."""
    data = delivery_list_data(delivery, hook)
    data["timestamp"] = data.pop("created_at")
    data.update(
        payload=json.loads(delivery.payload),
        response_body=delivery.response_body,
        response_headers=delivery.response_headers,
        error_message=delivery.error_message,
        attempts=[_attempt(a) for a in attempts],
    )
    return data
