"""A webhook as configured, and which events it wants: a product decision, kept pure.

A webhook belongs to a team and hears from all its projects, some of them (``scope`` =
``project``) or some routes (``scope`` = ``route``); the events it subscribed to
(core/webhooks/delivery.py normalises their names); and machine engagement (scanners,
previews, proxies) only with ``include_machine_events``: labels, not drops, but a default
webhook counts people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..events import Event, machine_only

__all__ = ["Webhook", "wants"]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    public_id: str
    team_id: int
    name: str
    url: str
    format: str  # lettermint, lettr
    events: tuple[str, ...]
    enabled: bool
    include_machine_events: bool
    scope: str  # team, project, route
    project_ids: tuple[int, ...]
    route_ids: tuple[int, ...]
    delivery_mode_filter: str  # live, sandbox, both
    secret: str
    basic_auth: tuple[str, str] | None
    disabled_reason: str | None
    last_called_at: datetime | None
    created_at: datetime
    updated_at: datetime


def wants(hook: Webhook, project_id: int, route_id: int | None, event: Event) -> bool:
    """Whether ``hook`` hears of ``event`` of this project and route at all (which names it
    is delivered as, and whether the hook subscribed to them, is event_names' part)."""
    if hook.scope == "project" and project_id not in hook.project_ids:
        return False
    if hook.scope == "route" and route_id not in hook.route_ids:
        return False
    return hook.include_machine_events or not machine_only(event)
