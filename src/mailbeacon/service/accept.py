"""Accepting a message: route, tracking decision, one instrumented copy per recipient, stored.

Whatever the entry point (Lettermint or Lettr API, SMTP relay), a message arrives as an
:class:`Intake`: the RFC 5322 bytes as the sender made them, the envelope recipients and what
is known about it. :func:`accept` stores it durably, in one transaction, with:

- the message (status ``queued``) and its ``message.created`` event, with its webhook
  deliveries (service/events.py);
- a copy per recipient (to, cc and bcc alike) whose links and pixel carry that copy's id, so
  every hit names its recipient, queued for the upstream;
- the message's tracked links (the same for every copy).

Bad requests raise :class:`~..core.errors.AcceptError` subclasses carrying the HTTP status an
API answers.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..core.errors import (
    InboundRoute,
    UnknownRoute,
)
from ..core.events import Event
from ..core.instrumentation.mime import MessagePlan
from ..core.intake.compose import compose
from ..core.intake.policy import (
    RouteType,
    TrackingDecision,
    TrackingOverrides,
    TrackingSettings,
    resolve_tracking,
)
from ..core.intake.submission import Submission
from ..store import messages, tenancy
from ..store.db import Database
from ..store.ids import new_id
from . import events
from .instrumenter import Instrumenter

__all__ = [
    "Accepted",
    "Intake",
    "accept",
    "intake_from_submission",
    "store_message",
]


@dataclass(frozen=True, slots=True)
class Intake:
    raw: bytes
    recipients: list[tuple[str, str]]  # (address, "to" | "cc" | "bcc")
    source: str  # lettermint, lettr, smtp
    from_email: str
    from_name: str | None
    subject: str | None
    to: list[dict[str, str | None]]
    cc: list[dict[str, str | None]] = field(default_factory=list)
    bcc: list[dict[str, str | None]] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    route: str | None = None
    overrides: TrackingOverrides = field(default_factory=TrackingOverrides)
    tag: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None
    text: str | None = None
    transactional: bool = True
    envelope_from: str | None = None  # the relay's MAIL FROM ("" the null sender); None: From


# What of an intake is stored as it came: the message's fields that the route and the
# tracking decision do not decide.
_STORED = tuple(
    name
    for name in messages.NewMessage.__dataclass_fields__
    if name not in ("project_id", "route_id", "track_opens", "track_clicks")
)
assert set(_STORED) <= set(Intake.__dataclass_fields__), "an intake carries what is stored"


@dataclass(frozen=True, slots=True)
class Accepted:
    message_id: int
    public_id: str
    copy_ids: list[int]
    decision: TrackingDecision
    urls: list[str]  # the tracked links' destinations, by link index


def intake_from_submission(submission: Submission, source: str, now: datetime) -> Intake:
    """Compose the message an API request describes."""
    domain = submission.sender.email.rpartition("@")[2] or "mailbeacon.invalid"
    message_id = email.utils.make_msgid(domain=domain)
    raw = compose(submission, message_id=message_id, date=now)
    people = [(a, "to") for a in submission.to] + [(a, "cc") for a in submission.cc]
    people += [(a, "bcc") for a in submission.bcc]
    return Intake(
        raw=raw,
        recipients=[(a.email, kind) for a, kind in people],
        source=source,
        from_email=submission.sender.email,
        from_name=submission.sender.name,
        subject=submission.subject,
        to=[{"email": a.email, "name": a.name} for a in submission.to],
        cc=[{"email": a.email, "name": a.name} for a in submission.cc],
        bcc=[{"email": a.email, "name": a.name} for a in submission.bcc],
        reply_to=list(submission.reply_to),
        route=submission.route,
        overrides=submission.overrides,
        tag=submission.tag,
        tags=[{"name": n, "value": v} for n, v in submission.tags],
        metadata=dict(submission.metadata),
        attachments=[
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content_id": a.content_id,
                "size": len(a.content),
            }
            for a in submission.attachments
        ],
        html=submission.html,
        text=submission.text,
        transactional=submission.transactional,
    )


def body_hash(body: Any) -> str:
    """A stable hash of a JSON request body, for idempotency."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def accept(
    db: Database,
    instrumenter: Instrumenter,
    project: tenancy.Project,
    intake: Intake,
    now: datetime,
) -> Accepted:
    plan = instrumenter.plan(intake.raw)  # pure and the slowest part: outside the transaction
    with db.write() as conn:
        return store_message(conn, instrumenter, plan, project, intake, now)


def _route(conn: Connection, project: tenancy.Project, slug: str | None) -> tenancy.Route:
    if slug:
        route = tenancy.route_by_slug(conn, project.id, slug)
        if route is None:
            raise UnknownRoute(f"The route {slug!r} does not exist in this project.", field="route")
    else:
        found = (
            tenancy.route_by_id(conn, project.default_route_id)
            if project.default_route_id is not None
            else None
        )
        if found is None:
            raise UnknownRoute(
                "This project has no default route; name one with 'route'.", field="route"
            )
        route = found
    if route.route_type is RouteType.INBOUND:
        raise InboundRoute(
            f"The route {route.slug!r} is an inbound route: it cannot send.", field="route"
        )
    return route


def store_message(
    conn: Connection,
    instrumenter: Instrumenter,
    plan: MessagePlan,
    project: tenancy.Project,
    intake: Intake,
    now: datetime,
) -> Accepted:
    route = _route(conn, project, intake.route)
    decision = resolve_tracking(
        route.route_type,
        TrackingSettings(route.track_opens, route.track_clicks),
        intake.overrides,
        has_html=bool(plan.html_parts),
    )
    message_id, public_id = messages.insert_message(
        conn,
        messages.NewMessage(
            project_id=project.id,
            route_id=route.id,
            track_opens=decision.opens,
            track_clicks=decision.clicks,
            **{name: getattr(intake, name) for name in _STORED},
        ),
        now,
    )
    copy_ids = messages.insert_copies(conn, message_id, intake.recipients, now)
    honeypot = bool(route.settings.get("honeypot_link", True))
    origin = instrumenter.origin(project)  # its custom domain, default host or the public URL
    urls: list[str] = []
    for index, copy_id in enumerate(copy_ids):
        copy = plan.render(
            instrumenter.tracker(copy_id, now.date(), origin),
            opens=decision.opens,
            clicks=decision.clicks,
            honeypot=honeypot,
        )
        messages.set_copy_raw(conn, copy_id, copy.raw)
        if index == 0:  # the links are the same in every copy
            urls = [link.url for link in copy.links]
            messages.insert_links(
                conn,
                message_id,
                [
                    messages.Link(link.link_index, link.url, link.anchor_text, link.element)
                    for link in copy.links
                ],
            )
    created = Event(
        public_id=new_id(),
        project_id=project.id,
        message_id=message_id,
        type="message.created",
        at=now,
        data={"recipients": len(copy_ids)},
    )
    events.record(conn, [created], now)
    return Accepted(message_id, public_id, copy_ids, decision, urls)
