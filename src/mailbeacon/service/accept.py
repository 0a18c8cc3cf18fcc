"""Accepting a message: route, tracking decision, one instrumented copy per recipient, stored.

Whatever the entry point (Lettermint or Lettr API, SMTP relay), a message arrives as an
:class:`Intake`: the RFC 5322 bytes as the sender made them, the envelope recipients and what
is known about it. :func:`accept` stores it durably, in one transaction, with:

- the message (status ``queued``) and its ``message.created`` event, with its webhook
  deliveries (service/events.py);
- a copy per recipient (to, cc and bcc alike) whose links and pixel carry that copy's id, so
  every hit names its recipient, queued for the upstream;
- the message's tracked links (the same for every copy).

A recipient on the team's suppression list gets no copy sent: theirs is settled
``suppressed`` at once, with ``message.suppressed`` saying why (core/suppressions.py decides,
transactional mail included). A recipient who opted out of tracking gets a copy with no
pixel and no tracked link (core/intake/policy.py's for_recipient). With a route's
``one_click_unsubscribe`` each copy carries RFC 8058's headers pointing at its own signed
unsubscribe URL; with a bounce domain, its own VERP return path (core/bounces/verp.py).

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

from ..core.bounces.verp import return_path
from ..core.errors import (
    InboundRoute,
    UnknownRoute,
)
from ..core.events import Event
from ..core.hosts.tracking_hosts import TrackingOrigin
from ..core.instrumentation.mime import MessagePlan
from ..core.instrumentation.rewrite import TrackedLink
from ..core.intake.compose import compose
from ..core.intake.policy import (
    RouteType,
    TrackingDecision,
    TrackingOverrides,
    TrackingSettings,
    for_recipient,
    resolve_tracking,
)
from ..core.intake.submission import Submission
from ..core.intake.unsubscribe import with_one_click
from ..core.suppressions import Suppression, blocking, normal_address
from ..store import messages, rollups, suppressions, tenancy
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
    suppressed: dict[str, str] = field(default_factory=dict)  # refused address -> reason


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
    people = [normal_address(address) for address, _ in intake.recipients]
    # Lettr's transactional flag counts on a transactional route (a broadcast route's mail
    # is broadcast whatever the flag says): core/suppressions.py's rules need to know.
    transactional = route.route_type is RouteType.TRANSACTIONAL and intake.transactional
    stopped = blocking(
        suppressions.for_addresses(conn, project.team_id, people),
        project_id=project.id,
        route_id=route.id,
        transactional=transactional,
    )
    untracked = suppressions.opted_out(conn, project.team_id, people)
    refused: dict[int, tuple[str, Suppression]] = {}
    sent: list[tuple[int, bool]] = []  # (copy id, opted out of tracking)
    for copy_id, person, (address, _) in zip(copy_ids, people, intake.recipients, strict=True):
        if person in stopped:
            refused[copy_id] = (address, stopped[person])
        else:
            sent.append((copy_id, person in untracked))
    origin = instrumenter.origin(project)  # its custom domain, default host or the public URL
    copy = _CopyMaker(instrumenter, plan, origin, route, intake, decision, now)
    urls: list[str] | None = None
    for copy_id, opted_out in sent:
        links = copy.make(conn, copy_id, opted_out=opted_out)
        if urls is None and links is not None:  # a tracked copy: its links are everyone's
            urls = [link.url for link in links]
            messages.insert_links(
                conn,
                message_id,
                [
                    messages.Link(link.link_index, link.url, link.anchor_text, link.element)
                    for link in links
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
    if refused:
        _refuse(conn, project, route, intake, message_id, refused, now)
    suppressed = {address: s.reason for address, s in refused.values()}
    return Accepted(message_id, public_id, copy_ids, decision, urls or [], suppressed)


@dataclass(frozen=True, slots=True)
class _CopyMaker:
    """Makes and stores each recipient's copy of one message."""

    instrumenter: Instrumenter
    plan: MessagePlan
    origin: TrackingOrigin  # where the message's links point
    route: tenancy.Route
    intake: Intake
    decision: TrackingDecision
    now: datetime

    def make(
        self, conn: Connection, copy_id: int, *, opted_out: bool
    ) -> tuple[TrackedLink, ...] | None:
        """Store copy ``copy_id``; its tracked links, or None for a copy that is not tracked
        as the message is (its recipient opted out)."""
        mine = for_recipient(self.decision, opted_out=opted_out)
        tracker = self.instrumenter.tracker(copy_id, self.now.date(), self.origin)
        links: tuple[TrackedLink, ...] = ()
        if mine.opens or mine.clicks:
            honeypot = bool(self.route.settings.get("honeypot_link", True))
            copy = self.plan.render(
                tracker, opens=mine.opens, clicks=mine.clicks, honeypot=honeypot
            )
            raw, links = copy.raw, copy.links
        else:
            # Nothing to add: the message as accepted, every byte (rendering would re-encode
            # a quoted-printable part's line breaks even with nothing changed)
            raw = self.plan.raw
        if self.route.settings.get("one_click_unsubscribe", False):
            raw = with_one_click(raw, tracker.unsubscribe_url())
        messages.set_copy_raw(conn, copy_id, raw, self._return_path(copy_id))
        return links if mine == self.decision else None

    def _return_path(self, copy_id: int) -> str | None:
        """The copy's own MAIL FROM: a VERP address when the instance has a bounce domain,
        except for the null sender (a message that must not be bounced, RFC 5321 4.5.5)."""
        domain = self.instrumenter.bounce_domain
        if domain is None or self.intake.envelope_from == "":
            return None
        return return_path(self.instrumenter.codec, copy_id, self.now.date(), domain)


def _refuse(
    conn: Connection,
    project: tenancy.Project,
    route: tenancy.Route,
    intake: Intake,
    message_id: int,
    refused: dict[int, tuple[str, Suppression]],
    now: datetime,
) -> None:
    """Settle the copies of suppressed recipients unsent, each with ``message.suppressed``
    saying why."""
    messages.suppress_copies(
        conn, {c: f"suppressed: {s.reason} ({s.scope})" for c, (_, s) in refused.items()}, now
    )
    messages.refresh_message_status(conn, message_id, now)
    counters = rollups.Deltas()
    counters.bump(
        rollups.key(project.id, route.id, intake.tag, now.date()), suppressed=len(refused)
    )
    found = [
        Event(
            public_id=new_id(),
            project_id=project.id,
            message_id=message_id,
            copy_id=copy_id,
            type="message.suppressed",
            at=now,
            recipient=address,
            data={
                "reason": suppression.reason,
                "scope": suppression.scope,
                "applies_to": suppression.applies_to,
                "suppression_id": suppression.public_id,
            },
        )
        for copy_id, (address, suppression) in refused.items()
    ]
    events.record(conn, found, now, counters)
