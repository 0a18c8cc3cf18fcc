"""Webhooks as use cases: create, change, delete, test, new secret, retry a delivery.

A webhook's URL is guarded here, whoever asks: it must be http(s), carry no credentials (they
belong in ``basic_auth``) and resolve to addresses webhooks may call (webhook_guard.py), or
:class:`UrlRefused`. Event names are normalised for the webhook's format
(core/webhooks/delivery.py), or :class:`UnknownEvents`. The URL is resolved before the
transaction opens: DNS must not hold the writers' lock.

Lookups take the caller's team: another team's webhook or delivery is a :class:`NotFound`.
Other refusals are :class:`Refused` naming the field (``scope``, ``project_ids``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from ..core.errors import NotFound, Refused, UrlRefused
from ..core.webhooks.payloads import normalise_events
from ..core.webhooks.subscriptions import Webhook
from ..store import tenancy
from ..store import webhook_deliveries as outbox
from ..store import webhooks as store
from ..store.db import Database
from . import events
from .webhook_guard import AddressGuard

__all__ = [
    "NewWebhook",
    "TargetRequest",
    "Targets",
    "WebhookChanges",
    "check_url",
    "create_webhook",
    "delete_webhook",
    "regenerate_secret",
    "retry_delivery",
    "test_webhook",
    "update_webhook",
    "webhook_of",
]


Targets = tuple[str, list[int], list[int]]  # scope, projects.id, routes.id


@dataclass(frozen=True, slots=True)
class TargetRequest:
    """What a webhook listens to, as asked: a scope (None: worked out from the ids) and the
    public ids of the projects or routes it names."""

    scope: str | None = None
    project_ids: list[str] = field(default_factory=list)
    route_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewWebhook:
    name: str
    url: str
    events: list[str]
    format: str | None = None  # None: lettermint
    enabled: bool | None = None  # None: on
    include_machine_events: bool | None = None
    targets: TargetRequest = TargetRequest()
    delivery_mode_filter: str | None = None  # None: both
    basic_auth: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class WebhookChanges:
    """What an update asks; None (and ``targets`` None, ``basic_auth_given`` False) keeps a
    value as it is. ``basic_auth`` None with ``basic_auth_given`` removes the credentials."""

    name: str | None = None
    url: str | None = None
    include_machine_events: bool | None = None
    delivery_mode_filter: str | None = None
    format: str | None = None
    events: list[str] | None = None
    targets: TargetRequest | None = None
    basic_auth: dict[str, Any] | None = None
    basic_auth_given: bool = False
    enabled: bool | None = None


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise :class:`UrlRefused` unless webhooks may call ``url`` (resolves it: blocking)."""
    if any(char.isspace() or not char.isprintable() for char in url):
        raise UrlRefused("The webhook URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it validates it)
    except ValueError as exc:  # an unclosed [ of an IPv6 literal, a port out of range, ...
        raise UrlRefused(f"The webhook URL is not a valid URL ({exc}).") from None
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Put credentials in basic_auth, not in the webhook URL.")
    AddressGuard(allow_private=allow_private).check_url(url)


def _invalid(field: str, message: str) -> Refused:
    return Refused(message, errors={field: [message]})


def _targets(conn: Connection, team: tenancy.Team, want: TargetRequest) -> Targets:
    """Scope and the projects or routes it names, checked to be the team's."""
    route_ids, project_ids = want.route_ids, want.project_ids
    scope = want.scope or ("route" if route_ids else "project" if project_ids else "team")
    if (scope != "project" and project_ids) or (scope != "route" and route_ids):
        raise _invalid("scope", f"A {scope}-wide webhook names no other projects or routes.")
    if scope == "team":
        return scope, [], []
    named = project_ids if scope == "project" else route_ids
    if not named:
        raise _invalid(f"{scope}_ids", f"A {scope} webhook names at least one {scope}.")
    lookup = tenancy.project_for_team if scope == "project" else tenancy.route_for_team
    found = [lookup(conn, team.id, public_id) for public_id in named]
    ids = [item.id for item in found if item is not None]
    if len(ids) != len(named):
        raise _invalid(f"{scope}_ids", f"No such {scope} in this team.")
    return (scope, ids, []) if scope == "project" else (scope, [], ids)


def webhook_of(conn: Connection, team: tenancy.Team, webhook_id: str) -> Webhook:
    """The team's webhook, or :class:`NotFound` (another team's answers the same)."""
    hook = store.webhook_for_team(conn, team.id, webhook_id)
    if hook is None:
        raise NotFound("webhook")
    return hook


def create_webhook(
    db: Database, team: tenancy.Team, now: datetime, new: NewWebhook, *, allow_private: bool
) -> Webhook:
    """The team's new webhook, with its signing secret."""
    format = new.format or "lettermint"
    events = normalise_events(format, new.events)
    check_url(new.url, allow_private=allow_private)
    with db.write() as conn:
        scope, project_ids, route_ids = _targets(conn, team, new.targets)
        return store.create_webhook(
            conn,
            team.id,
            now,
            name=new.name,
            url=new.url,
            format=format,
            events=events,
            enabled=True if new.enabled is None else new.enabled,
            include_machine_events=bool(new.include_machine_events),
            scope=scope,
            project_ids=project_ids,
            route_ids=route_ids,
            delivery_mode_filter=new.delivery_mode_filter or "both",
            basic_auth=new.basic_auth,
        )


def update_webhook(
    db: Database,
    team: tenancy.Team,
    webhook_id: str,
    now: datetime,
    changes: WebhookChanges,
    *,
    allow_private: bool,
) -> Webhook:
    """Change what ``changes`` names; the webhook afterwards. Turning a webhook off gives up
    what it had yet to deliver; turning it on again clears why it was off."""
    if changes.url is not None:
        check_url(changes.url, allow_private=allow_private)
    with db.write() as conn:
        hook = webhook_of(conn, team, webhook_id)
        columns = {
            "name": changes.name,
            "url": changes.url,
            "include_machine_events": changes.include_machine_events,
            "delivery_mode_filter": changes.delivery_mode_filter,
        }
        values: dict[str, Any] = {k: v for k, v in columns.items() if v is not None}
        format = changes.format or hook.format
        if changes.events is not None or format != hook.format:
            values["events"] = normalise_events(format, list(changes.events or hook.events))
            values["format"] = format
        if changes.targets is not None:
            values["scope"], values["project_ids"], values["route_ids"] = _targets(
                conn, team, changes.targets
            )
        if changes.basic_auth_given:
            values["basic_auth"] = changes.basic_auth
        if changes.enabled is True:
            values.update(enabled=True, disabled_reason=None)
        hook = store.update_webhook(conn, hook.id, now, **values)
        if changes.enabled is False and hook.enabled:
            store.disable_webhook(conn, hook.id, now, None)
            hook = webhook_of(conn, team, webhook_id)
        return hook


def delete_webhook(db: Database, team: tenancy.Team, webhook_id: str) -> None:
    """The webhook and its delivery log."""
    with db.write() as conn:
        store.delete_webhook(conn, webhook_of(conn, team, webhook_id).id)


def test_webhook(db: Database, team: tenancy.Team, webhook_id: str, now: datetime) -> str:
    """Queue a ``webhook.test`` delivery, whatever the webhook subscribes to and even while it
    is off (to try an endpoint before turning it on); the delivery's public id."""
    with db.write() as conn:
        return events.enqueue_test(conn, webhook_of(conn, team, webhook_id), now)


def regenerate_secret(db: Database, team: tenancy.Team, webhook_id: str, now: datetime) -> Webhook:
    """A new signing secret: deliveries from now on are signed with it only."""
    with db.write() as conn:
        hook = webhook_of(conn, team, webhook_id)
        return store.update_webhook(conn, hook.id, now, secret=store.new_secret())


def retry_delivery(
    db: Database, team: tenancy.Team, webhook_id: str, delivery_id: str, now: datetime
) -> outbox.DeliveryRecord:
    """Make a finished delivery due again, now (same id, same body). Refused (409) while the
    webhook is off or the delivery still has an attempt pending or in flight."""
    with db.write() as conn:
        hook = webhook_of(conn, team, webhook_id)
        delivery = outbox.delivery_for_webhook(conn, hook.id, delivery_id)
        if delivery is None:
            raise NotFound("delivery")
        if not hook.enabled:
            raise Refused("The webhook is disabled.", status=409, code="webhook_disabled")
        if not outbox.retry(conn, delivery.id, now):
            raise Refused(
                "This delivery is still pending or in flight.",
                status=409,
                code="delivery_in_progress",
            )
    return delivery
