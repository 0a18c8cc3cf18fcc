"""Messages: the searchable list, and one message with every hit as a timeline."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...core.errors import NotFound
from ...core.events import ENGAGEMENT, Event
from ...core.verdicts.networks import NetworkTable
from ...core.verdicts.useragent import client_facts
from ...store import dashboard as reads
from ...store import messages as store
from ...store import networks, queries, tenancy
from ...store.accounts import SessionRow
from ..services import services_of
from .explain import CLASSIFICATIONS, KIND_LABELS, REASONS, audience, summary
from .periods import period_of
from .rendering import render
from .scope import chosen_project
from .security import COPY_CSP

__all__ = ["router"]

router = APIRouter()

PAGE_SIZE = 25
TIMELINE_PAGE = 100  # events a page of the timeline (a message may have hundreds of thousands)
STATUSES = ("queued", "processed", "delivered", "captured", "failed", "suppressed")


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:320] or None


@router.get("/messages")
def message_list(request: Request) -> Response:
    viewer: SessionRow = request.state.viewer
    services = services_of(request)
    params = request.query_params
    status = _text(request, "status")
    if status is not None and status not in STATUSES:
        status = None
    with services.db.read() as conn:
        project, projects = chosen_project(conn, viewer, _text(request, "project"))
        routes = tenancy.list_routes(conn, project.id) if project else []
        period = None
        if params.get("period") or params.get("from") or params.get("to"):
            period = period_of(
                _text(request, "period"),
                _text(request, "from"),
                _text(request, "to"),
                services.clock.now(),
                request.state.zone,
            )
        route = _text(request, "route")
        where = queries.MessageQuery(
            project=project.public_id if project else "",
            route=route if any(r.public_id == route for r in routes) else None,
            statuses=(status,) if status else None,
            tag=_text(request, "tag"),
            recipient=_text(request, "recipient"),
            subject=_text(request, "subject"),
            search=_text(request, "q"),
            created_from=period.start if period else None,
            created_to=period.end if period else None,
        )
        cursor = _text(request, "after") or _text(request, "before")
        anchor = queries.message_cursor_id(conn, viewer.user.team.id, cursor) if cursor else None
        page = queries.message_page(
            conn,
            viewer.user.team.id,
            where,
            queries.Seek(PAGE_SIZE, anchor, backwards=bool(_text(request, "before"))),
        )
    kept = {k: v for k, v in params.items() if k not in ("after", "before") and v}
    return render(
        request,
        "messages.html",
        page_name="messages",
        project=project,
        projects=projects,
        routes=routes,
        statuses=STATUSES,
        filters=kept,
        rows=page.rows,
        newer={**kept, "before": page.rows[0].public_id} if page.has_before and page.rows else None,
        older={**kept, "after": page.rows[-1].public_id} if page.has_after and page.rows else None,
    )


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    after_delivery: str
    what: str  # opened, clicked, sent, ...
    recipient: str | None
    link: str | None
    method: str | None
    user_agent: str | None
    client: str
    network: str
    audience: str
    classification: str
    probability: int | None
    proxy_type: str | None
    family: str | None
    reasons: list[tuple[str, str]]
    details: list[str]
    verdict: str
    counted: bool | None


def _since(at: datetime, start: datetime | None) -> str:
    if start is None:
        return "—"
    seconds = (at - start).total_seconds()
    return f"{seconds:+.1f} s"


def _client(user_agent: str | None) -> str:
    if not user_agent:
        return "no user agent"
    facts = client_facts(user_agent)
    return f"{facts.client_name or 'unknown client'} ({facts.client_type}, {facts.device_type})"


def _network_of(request: Request, ip: str | None) -> str:
    if not ip:
        return "address not kept"
    table: NetworkTable | None = getattr(request.app.state, "networks", None)
    if table is None:  # loaded once a process: the shipped list and the operator's imports
        with services_of(request).db.read() as conn:
            table = networks.load_table(conn)
        request.app.state.networks = table
    found = table.lookup(ip)
    return f"{ip} ({found.provider} {found.role})" if found else f"{ip} (no known network)"


def _entry(
    request: Request,
    event: Event,
    delivered: Mapping[int, datetime | None],
    links: dict[int, str],
    facts: dict[int, tuple[str | None, str]],
) -> TimelineEntry:
    engagement = event.type in ENGAGEMENT
    ip, method = facts.get(event.observation_id or 0, (None, None))
    reasons = list(event.reason_codes or ())
    return TimelineEntry(
        at=event.at,
        after_delivery=_since(event.at, delivered.get(event.copy_id or 0)),
        what=event.type.removeprefix("message."),
        recipient=event.recipient,
        link=links.get(event.link_index) if event.link_index is not None else None,
        method=method,
        user_agent=event.user_agent,
        client=_client(event.user_agent) if engagement else "",
        network=_network_of(request, ip) if engagement else "",
        audience=audience(event.classification) if engagement else "system",
        classification=CLASSIFICATIONS.get(event.classification or "", "") if engagement else "",
        probability=event.probability,
        proxy_type=event.proxy_type,
        family=event.family,
        reasons=[(code, REASONS.get(code, code)) for code in reasons],
        details=list(event.details or ()),
        verdict=summary(event.classification, event.counts_for_metrics, reasons)
        if engagement
        else str(event.data.get("message") or event.data.get("error") or ""),
        counted=event.counts_for_metrics if engagement else None,
    )


@router.get("/messages/{message_id}")
def message_detail(request: Request, message_id: str) -> Response:
    viewer: SessionRow = request.state.viewer
    with services_of(request).db.read() as conn:
        message = store.message_for_team(conn, viewer.user.team.id, message_id)
        if message is None:
            raise NotFound("message")
        copies = store.copies_of(conn, message.id)
        links = store.links_of(conn, message.id)
        cursor = _text(request, "after") or _text(request, "before")
        anchor = queries.event_cursor_id(conn, message.id, cursor) if cursor else None
        events_page = queries.event_page(
            conn,
            message.id,
            include_machine=True,
            newest_first=False,
            page=queries.Seek(TIMELINE_PAGE, anchor, backwards=bool(_text(request, "before"))),
        )
        found = events_page.rows
        clicks = reads.link_clicks(conn, message.id)
        observation_ids = [e.observation_id for e in found if e.observation_id]
        facts = reads.request_facts(conn, observation_ids)
        pending = reads.pending_hits(conn, [c.id for c in copies])
        route = tenancy.route_by_id(conn, message.route_id) if message.route_id else None
        has_copy = bool(copies)
    delivered = {c.id: c.delivered_at or message.created_at for c in copies}
    urls = {link.link_index: link.url for link in links}
    timeline = [_entry(request, e, delivered, urls, facts) for e in found]
    waiting = [
        {
            "at": datetime.fromtimestamp(hit.at_us / 1e6, UTC),
            "after_delivery": _since(
                datetime.fromtimestamp(hit.at_us / 1e6, UTC), delivered.get(hit.copy_id)
            ),
            "what": KIND_LABELS.get(hit.kind, "hit"),
            "recipient": hit.recipient,
            "link": urls.get(hit.link_index) if hit.kind == 2 else None,
            "method": hit.method,
            "client": _client(hit.user_agent),
            "user_agent": hit.user_agent,
            "network": _network_of(request, hit.ip),
        }
        for hit in pending
    ]
    link_rows = [
        {
            "index": link.link_index,
            "url": link.url,
            "anchor": link.anchor_text,
            "human": clicks.get((link.link_index, True), 0),
            "machine": clicks.get((link.link_index, False), 0),
        }
        for link in links
    ]
    return render(
        request,
        "message.html",
        page_name="messages",
        message=message,
        route=route,
        copies=copies,
        links=link_rows,
        timeline=timeline,
        waiting=waiting if not events_page.has_after else [],
        earlier=found[0].public_id if events_page.has_before and found else None,
        later=found[-1].public_id if events_page.has_after and found else None,
        has_copy=has_copy,
    )


def _captured(request: Request, message_id: str) -> bytes:
    viewer: SessionRow = request.state.viewer
    with services_of(request).db.read() as conn:
        message = store.message_for_team(conn, viewer.user.team.id, message_id)
        if message is None:
            raise NotFound("message")
        recipient = _text(request, "recipient")
        raw = store.copy_raw(conn, message.id, recipient)
    if raw is None:
        raise NotFound("copy")
    return raw


def _html_part(raw: bytes) -> str:
    parsed: Any = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("html", "plain"))
    if body is None:
        return "<p>This message has no HTML or text part.</p>"
    content = str(body.get_content())
    if body.get_content_type() == "text/plain":
        from html import escape

        return f"<pre>{escape(content)}</pre>"
    return content


# Images are not fetched when the copy is shown, as a mail client with images off: the
# tracking pixel would record the viewer's own open, and any remote image is a request to
# another origin. Their src is kept under another name, so the source shows what it was.
_IMAGE_SOURCE = re.compile(r"(<img\b[^>]*?\s)src\s*=", re.IGNORECASE)


@router.get("/messages/{message_id}/copy")
def captured_copy(request: Request, message_id: str) -> Response:
    """The copy as its recipient got it, for the sandboxed frame: its own policy allows no
    script and no remote image (the pixel would record the viewer's own open)."""
    html = _IMAGE_SOURCE.sub(r"\1data-blocked-src=", _html_part(_captured(request, message_id)))
    return Response(
        html,
        media_type="text/html",
        headers={"content-security-policy": COPY_CSP, "x-frame-options": "SAMEORIGIN"},
    )


@router.get("/messages/{message_id}/source")
def captured_source(request: Request, message_id: str) -> Response:
    raw = _captured(request, message_id)
    return Response(raw, media_type="text/plain; charset=utf-8")
