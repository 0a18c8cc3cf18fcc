"""What the Lettermint Team API answers: mailbeacon's records in Lettermint's shapes
(docs/contracts.md, 1.3 to 1.6), and its cursors.

mailbeacon's own vocabulary is normalised with lookup tables:

================  ==================  ====================================================
mailbeacon        Lettermint          why
================  ==================  ====================================================
message.created   queued              accepted and waiting in the outbound queue
message.sent      delivered           the upstream SMTP server answered 250: the only
                                      delivery confirmation mailbeacon ever gets, and the
                                      message's own status says ``delivered`` too
message.sent      processed           ... when the copy was *captured* locally (no
 (captured)                           upstream): it left the queue but reached nobody
message.failed    failed              refused for good, or the retry schedule ran out
message.opened    opened              engagement, with its verdict in ``metadata``
message.clicked   clicked
message.hard_     hard_bounced,       the receiving server's refusal (``response``), in
bounced, soft_    soft_bounced        band or reported later by a DSN (``out_of_band``)
bounced
message.          suppressed          the recipient is on the suppression list: no copy
suppressed                            was sent (``reason``, ``scope``, ``applies_to``)
message.          unsubscribed        the recipient used the one-click unsubscribe
unsubscribed
================  ==================  ====================================================

Message (and recipient) statuses follow the same table: queued, processed, delivered, failed,
suppressed (every recipient was); a captured copy is ``processed``. A message's status is its
delivery status: opens and clicks are events and do not move it to ``opened``/``clicked``.

Verdicts: ``metadata.classification`` is Lettermint's engagement class (human, privacy, bot,
scanner); ``metadata.bot`` holds mailbeacon's own verdict in full.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ...core.errors import ApiError
from ...core.events import Event
from ...core.timestamps import engagement_time
from ...core.timestamps import rfc3339_or_none as iso  # the one form: core/timestamps.py
from ...store.link_changes import LinkChange
from ...store.link_report import LinkClicks
from ...store.messages import Copy, MessageRecord
from ...store.queries import MessageStats
from ...store.tenancy import Project, Route

__all__ = [
    "EVENT_NAMES",
    "STATUSES",
    "Cursor",
    "cursor_page",
    "event_data",
    "event_name",
    "iso",
    "link_change_data",
    "link_data",
    "message_data",
    "message_list_data",
    "project_data",
    "project_list_data",
    "route_data",
    "route_list_data",
    "stats_data",
    "stored_statuses",
]

EVENT_NAMES = {
    "message.created": "queued",
    "message.sent": "delivered",
    "message.failed": "failed",
    "message.opened": "opened",
    "message.clicked": "clicked",
    "message.hard_bounced": "hard_bounced",
    "message.soft_bounced": "soft_bounced",
    "message.suppressed": "suppressed",
    "message.unsubscribed": "unsubscribed",
}
STATUSES = {
    "queued": "queued",
    "processed": "processed",
    "captured": "processed",
    "delivered": "delivered",
    "failed": "failed",
    "suppressed": "suppressed",
}
ENGAGEMENT_CLASSES = {
    "genuine": "human",
    "privacy_proxy": "privacy",
    "security_scanner": "scanner",
    "link_preview": "bot",
    "generic_bot": "bot",
}
# Route settings shown at the top level of RouteData rather than inside ``settings``.
INBOUND_KEYS = ("inbound_domain", "inbound_spam_threshold")


def status_of(stored: str) -> str:
    return STATUSES.get(stored, stored)


def stored_statuses(lettermint: str) -> tuple[str, ...]:
    """The stored statuses a Lettermint status filter means (none for statuses mailbeacon
    never reaches, such as ``bounced``)."""
    return tuple(stored for stored, shown in STATUSES.items() if shown == lettermint)


# --- cursors and pages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """An opaque cursor: a direction and the public id of the row a page starts beyond.
    Public ids, not row ids, so that a cursor reveals no volumes."""

    public_id: str
    backwards: bool = False

    def encode(self) -> str:
        text = ("prev:" if self.backwards else "next:") + self.public_id
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        direction, _, public_id = text.partition(":")
        if direction not in ("next", "prev") or not public_id:
            raise cls.invalid()
        return cls(public_id, backwards=direction == "prev")

    @staticmethod
    def invalid() -> ApiError:
        """For a cursor that is not ours, or names a row that is gone."""
        return ApiError(
            422,
            "The page[cursor] is not a cursor this API gave out.",
            errors={"page[cursor]": ["Use a next_cursor or prev_cursor of a previous page."]},
        )


def cursor_page(
    request: Request,
    data: list[dict[str, Any]],
    per_page: int,
    *,
    next_id: str | None,
    prev_id: str | None,
    cursor_param: str = "page[cursor]",
) -> dict[str, Any]:
    """Lettermint's CursorPage. ``next_cursor`` is null on the last page: the SDK's iterate()
    stops on nothing else."""
    next_cursor = Cursor(next_id).encode() if next_id else None
    prev_cursor = Cursor(prev_id, backwards=True).encode() if prev_id else None

    def url(cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return str(request.url.include_query_params(**{cursor_param: cursor}))

    return {
        "data": data,
        "path": str(request.url.replace(query="")),
        "per_page": per_page,
        "next_cursor": next_cursor,
        "next_page_url": url(next_cursor),
        "prev_cursor": prev_cursor,
        "prev_page_url": url(prev_cursor),
    }


# --- projects and routes ----------------------------------------------------------------------


def stats_data(stats: MessageStats) -> dict[str, Any]:
    return {
        "messages_transactional": stats.transactional,
        "messages_broadcast": stats.broadcast,
        "messages_inbound": stats.inbound,
        "deliverability": stats.deliverability,
    }


def project_data(project: Project, default_route: str | None) -> dict[str, Any]:
    """ProjectData without its optional includes (the caller adds those it was asked for)."""
    return {
        "id": project.public_id,
        "name": project.name,
        "delivery_mode": project.delivery_mode,
        "smtp_enabled": project.smtp_enabled,
        "redact_email_content": project.redact_email_content,
        "default_route_id": default_route,
        "token_generated_at": iso(project.token_generated_at),
        "token_last_used_at": iso(project.token_last_used_at),
        "token_last_used_ip": None,  # not kept: IPs are kept only as privacy settings allow
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
    }


def project_list_data(project: Project, routes_count: int, stats: MessageStats) -> dict[str, Any]:
    return {
        "id": project.public_id,
        "name": project.name,
        "delivery_mode": project.delivery_mode,
        "smtp_enabled": project.smtp_enabled,
        "routes_count": routes_count,
        "domains_count": 0,  # sending domains belong to the upstream, not to mailbeacon
        "last_28_days": stats_data(stats),
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
    }


def route_settings(route: Route) -> dict[str, Any]:
    """The route's settings as Lettermint shows them, with the other keys as stored."""
    kept = {k: v for k, v in route.settings.items() if k not in INBOUND_KEYS}
    return {
        **kept,
        "track_opens": route.track_opens,
        "track_clicks": route.track_clicks,
        # accept.py adds the honeypot unless the route turned it off
        "honeypot_link": bool(route.settings.get("honeypot_link", True)),
    }


def route_list_data(route: Route) -> dict[str, Any]:
    return {
        "id": route.public_id,
        "slug": route.slug,
        "name": route.name,
        "route_type": route.route_type.value,
        "is_default": route.is_default,
        "webhooks_count": 0,
        "suppressed_recipients_count": 0,
        "created_at": iso(route.created_at),
        "updated_at": iso(route.updated_at),
    }


def route_data(route: Route, project_public_id: str) -> dict[str, Any]:
    """RouteData. mailbeacon receives no mail, so the inbound address facts are null."""
    return {
        **route_list_data(route),
        "project_id": project_public_id,
        "inbound_address": None,
        "inbound_route_domain": None,
        "inbound_mx_hostname": None,
        "inbound_domain": route.settings.get("inbound_domain"),
        "inbound_domain_verified_at": None,
        "inbound_spam_threshold": route.settings.get("inbound_spam_threshold"),
        "attachment_delivery": route.settings.get("attachment_delivery"),
        "settings": route_settings(route),
    }


# --- messages ---------------------------------------------------------------------------------


def _people(people: list[dict[str, str | None]]) -> list[dict[str, Any]]:
    return [{"email": p["email"], "name": p.get("name"), "sandbox_result": None} for p in people]


def message_list_data(message: MessageRecord, delivery_mode: str) -> dict[str, Any]:
    return {
        "id": message.public_id,
        "type": "outbound",
        "status": status_of(message.status),
        "delivery_mode": delivery_mode,
        "sandbox_result": None,
        "scheduled_at": None,
        "from_email": message.from_email,
        "from_name": message.from_name,
        "subject": message.subject,
        "to": _people(message.to),
        "cc": _people(message.cc),
        "bcc": _people(message.bcc),
        "reply_to": list(message.reply_to),
        "tag": message.tag,
        "tags": list(message.tags),
        "status_changed_at": iso(message.status_changed_at),
        "created_at": iso(message.created_at),
    }


def _recipient(copy: Copy) -> dict[str, Any]:
    return {
        "email": copy.recipient,
        "kind": copy.recipient_kind,
        "status": status_of(copy.status),
        "attempts": copy.attempts,
        "last_error": copy.last_error,
        "delivered_at": iso(copy.delivered_at),
    }


def message_data(
    message: MessageRecord, delivery_mode: str, route_id: str | None, recipients: list[Copy]
) -> dict[str, Any]:
    """MessageData, plus mailbeacon's ``recipients``: each recipient's copy and its fate."""
    attachments = [
        {
            "size": a.get("size", 0),
            "filename": a.get("filename"),
            "content_id": a.get("content_id"),
            "content_type": a.get("content_type"),
        }
        for a in message.attachments
    ]
    return {
        **message_list_data(message, delivery_mode),
        "attachments": attachments,
        "metadata": dict(message.metadata),
        "route_id": route_id,  # null only if the route was deleted since
        "recipients": [_recipient(c) for c in recipients],
    }


def link_data(link: LinkClicks) -> dict[str, Any]:
    """One entry of the message's ``links`` (README.md, "Per-link clicks")."""
    return {
        "link_index": link.link_index,
        "url": link.url,
        "anchor_text": link.anchor_text,
        "human_clicks": link.human_clicks,
        "human_clicks_events": link.human_clicks_events,
        "machine_clicks": link.machine_clicks,
        "machine_clicks_events": link.machine_clicks_events,
    }


def link_change_data(change: LinkChange) -> dict[str, Any]:
    """One entry of the message's ``link_changes``: a link pointed elsewhere after sending."""
    return {
        "link_index": change.link_index,
        "old_url": change.old_url,
        "new_url": change.new_url,
        "changed_by": change.changed_by,
        "changed_at": iso(change.at),
    }


# --- events -----------------------------------------------------------------------------------


def event_name(event: Event) -> str:
    if event.type == "message.sent" and event.data.get("upstream") == "capture":
        return "processed"
    return EVENT_NAMES.get(event.type, event.type.removeprefix("message."))


def _verdict(event: Event) -> dict[str, Any]:
    classification = event.classification or "genuine"
    reasons = list(event.reason_codes or [])
    counts = bool(event.counts_for_metrics)
    lettermint_class = ENGAGEMENT_CLASSES.get(classification, "bot")
    return {
        "classification": lettermint_class,
        "counts_for_metrics": counts,
        "proxy_type": event.proxy_type,
        "reason_codes": reasons,
        "engagement": {
            "classification": lettermint_class,
            "reason_codes": reasons,
            "counts_for_metrics": counts,
        },
        "bot": {
            # detected: an automated agent made the request (a privacy proxy included);
            # machine: no person caused it (a privacy proxy fetching for a reader did).
            "detected": classification != "genuine",
            "probability": event.probability,
            "classification": classification,
            "proxy_type": event.proxy_type,
            "reason_codes": reasons,
            "machine": bool(event.machine),
            "counts_for_metrics": counts,
        },
        "family": event.family,
        "details": list(event.details or []),
    }


def _engagement(event: Event) -> dict[str, Any]:
    clicked = event.type == "message.clicked"
    facts: dict[str, Any] = {
        "recipient": event.recipient,
        "clicked_at" if clicked else "opened_at": engagement_time(event.at),
        "first_click" if clicked else "first_open": bool(event.first),
    }
    if clicked:
        facts.update(
            destination_url=event.url, link_index=event.link_index, anchor_text=event.anchor_text
        )
    facts.update(
        device_type=event.device_type,
        client_type=event.client_type,
        client_name=event.client_name,
        user_agent=event.user_agent,
    )
    return facts | _verdict(event)


def event_data(event: Event, message: MessageRecord) -> dict[str, Any]:
    """MessageEventData; ``metadata`` holds what the event carries (see the module docs)."""
    metadata: dict[str, Any] = dict(event.data)
    if event.type in ("message.opened", "message.clicked"):
        metadata.update(_engagement(event))
    elif event.recipient is not None:
        metadata["recipient"] = event.recipient
    return {
        "message_id": message.public_id,
        "event": event_name(event),
        "tag": message.tag,
        "tags": list(message.tags),
        "metadata": metadata,
        "timestamp": iso(event.at),
    }
