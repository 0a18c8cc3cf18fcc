"""The reads behind the Lettermint Team API: pages of messages and events, and the figures
(route counts, last-28-days stats, public route ids) its answers show.

Pages are keyset ("seek") pages over the integer id: a page continues strictly after, or
before, the row its cursor names. A deep page costs the same index range scan as the first,
and rows added meanwhile neither repeat nor vanish between pages, which offset pagination
cannot promise while mail keeps arriving.

Every query of a message is scoped by the caller's team (DESIGN.md, invariant 6): a public id
of another team's project, route or message simply matches nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Select, func, literal, or_, select, tuple_

# The message row mapping and its SELECT live in messages.py; reusing them keeps one
# definition of what a MessageRecord is.
from ..core.events import Event
from .events import event_from_row
from .messages import MessageRecord, _message, _with_project
from .schema import PEOPLE_EVENTS, copies, events, messages, projects, routes

__all__ = [
    "MessageQuery",
    "MessageStats",
    "Seek",
    "Slice",
    "event_cursor_id",
    "event_page",
    "message_cursor_id",
    "message_page",
    "message_stats",
    "route_counts",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Seek:
    """Which page: ``limit`` rows after ``anchor`` (the id a cursor names) in list order, or
    before it when ``backwards``; from the start when there is no anchor."""

    limit: int
    anchor: int | None = None
    backwards: bool = False


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """One page in list order, and whether rows exist on either side of it."""

    rows: list[T]
    has_before: bool
    has_after: bool


def _seek(
    conn: Connection,
    query: Select[Any],
    key: ColumnElement[int],
    *,
    descending: bool,
    page: Seek,
    within: tuple[ColumnElement[Any], Any] | None = None,
) -> Slice[Row[Any]]:
    """One page of ``query`` in ``key`` order; ``within`` (column, value): only the rows with
    that value (a message's events), written as :func:`_bounds` says."""
    # Scanning toward larger ids: forward in an ascending list, backwards in a descending one.
    toward_larger = descending == page.backwards
    lead = [] if within is None else [within[0]]
    where = None if within is None else (*within, conn.dialect.name)
    ahead = [c.asc() if toward_larger else c.desc() for c in (*lead, key)]
    scan = query.where(*_bounds(key, page.anchor, toward_larger, where, inclusive=False))
    rows = list(conn.execute(scan.order_by(*ahead).limit(page.limit + 1)))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    behind = False
    if page.anchor is not None:  # the anchor's side: is anything there (the anchor included)?
        other = query.where(*_bounds(key, page.anchor, not toward_larger, where, inclusive=True))
        back = [c.desc() if toward_larger else c.asc() for c in (*lead, key)]
        behind = conn.execute(other.order_by(*back).limit(1)).first() is not None
    if page.backwards:
        rows.reverse()
        return Slice(rows, has_before=more, has_after=behind)
    return Slice(rows, has_before=behind, has_after=more)


def _bounds(
    key: ColumnElement[int],
    anchor: int | None,
    toward_larger: bool,
    within: tuple[ColumnElement[Any], Any, str] | None,
    *,
    inclusive: bool,
) -> list[ColumnElement[bool]]:
    """The WHERE terms of a scan from ``anchor`` (excluded, or ``inclusive``) in one direction,
    among the rows whose ``within`` column has one value.

    Each database is asked in the words its planner turns into one index range scan starting
    at the anchor (the plans are pinned by tests/store/test_query_plans.py):

    - SQLite: ``column = v AND key > anchor``.
    - PostgreSQL: ``column >= v AND column <= v AND (column, key) > (v, anchor)``, ordered by
      ``column, key``. Given ``column = v``, PostgreSQL drops the constant from the ORDER BY
      and then prefers walking the primary key in id order, filtering, on the bet that the
      value's rows are spread evenly along it (40-68 ms a page at 180,000 events, issue 18).
      Written as a range, only an index led by ``column`` gives the order, and the row
      comparison positions its scan at the anchor.
    """
    terms: list[ColumnElement[bool]] = []
    if within is not None and within[2] == "postgresql":
        column, value, _ = within
        terms += [column >= value, column <= value]
        if anchor is not None:
            row, start = tuple_(column, key), tuple_(literal(value), literal(anchor))
            if toward_larger:
                terms.append(row >= start if inclusive else row > start)
            else:
                terms.append(row <= start if inclusive else row < start)
        return terms
    if within is not None:
        terms.append(within[0] == within[1])
    if anchor is not None:
        if toward_larger:
            terms.append(key >= anchor if inclusive else key > anchor)
        else:
            terms.append(key <= anchor if inclusive else key < anchor)
    return terms


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """The filters of GET /messages. Public ids are matched inside the team; ``statuses`` are
    stored statuses (None: any; an empty tuple: none at all)."""

    project: str | None = None
    route: str | None = None
    statuses: tuple[str, ...] | None = None
    tag: str | None = None
    recipient: str | None = None
    from_email: str | None = None  # partial, any case
    subject: str | None = None  # partial, any case
    search: str | None = None
    delivery_mode: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _recipient_is(address: str) -> ColumnElement[bool]:
    return messages.c.id.in_(
        select(copies.c.message_id).where(func.lower(copies.c.recipient) == address.lower())
    )


def _search(text: str) -> ColumnElement[bool]:
    """Lettermint's filter[search]: a whole address matches sender or recipient exactly;
    anything else is a partial match on sender, recipients and subject."""
    if "@" in text and " " not in text:
        return or_(func.lower(messages.c.from_email) == text.lower(), _recipient_is(text))
    in_recipients = messages.c.id.in_(
        select(copies.c.message_id).where(copies.c.recipient.icontains(text, autoescape=True))
    )
    return or_(
        messages.c.from_email.icontains(text, autoescape=True),
        messages.c.subject.icontains(text, autoescape=True),
        in_recipients,
    )


def _message_conditions(where: MessageQuery) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.project is not None:
        found.append(projects.c.public_id == where.project)
    if where.route is not None:
        found.append(
            messages.c.route_id.in_(select(routes.c.id).where(routes.c.public_id == where.route))
        )
    if where.statuses is not None:
        found.append(messages.c.status.in_(where.statuses))
    if where.tag is not None:
        found.append(messages.c.tag == where.tag)
    if where.recipient is not None:
        found.append(_recipient_is(where.recipient))
    if where.from_email is not None:
        found.append(messages.c.from_email.icontains(where.from_email, autoescape=True))
    if where.subject is not None:
        found.append(messages.c.subject.icontains(where.subject, autoescape=True))
    if where.search is not None:
        found.append(_search(where.search))
    if where.delivery_mode is not None:
        found.append(projects.c.delivery_mode == where.delivery_mode)
    if where.created_from is not None:
        found.append(messages.c.created_at >= where.created_from)
    if where.created_to is not None:
        found.append(messages.c.created_at <= where.created_to)
    return found


def message_page(
    conn: Connection, team_id: int, where: MessageQuery, page: Seek, *, newest_first: bool = True
) -> Slice[MessageRecord]:
    """The team's messages matching ``where``, in the order they were accepted."""
    query: Select[Any] = _with_project().where(
        projects.c.team_id == team_id, *_message_conditions(where)
    )
    found = _seek(conn, query, messages.c.id, descending=newest_first, page=page)
    return Slice([_message(r) for r in found.rows], found.has_before, found.has_after)


def message_cursor_id(conn: Connection, team_id: int, public_id: str) -> int | None:
    """The id of the team's message a cursor names."""
    return conn.execute(
        select(messages.c.id)
        .join(projects, projects.c.id == messages.c.project_id)
        .where(projects.c.team_id == team_id, messages.c.public_id == public_id)
    ).scalar()


# --- events -----------------------------------------------------------------------------------


def event_page(
    conn: Connection, message_id: int, *, include_machine: bool, newest_first: bool, page: Seek
) -> Slice[Event]:
    """A message's events. Machine engagement events are stored either way (labels, not
    drops) and shown only when asked for."""
    query = select(events)
    if not include_machine:
        # verbatim the predicate of the partial index ix_events_message_id_id_people
        query = query.where(PEOPLE_EVENTS)
    within = (events.c.message_id, message_id)
    found = _seek(conn, query, events.c.id, descending=newest_first, page=page, within=within)
    return Slice([event_from_row(r) for r in found.rows], found.has_before, found.has_after)


def event_cursor_id(conn: Connection, message_id: int, public_id: str) -> int | None:
    return conn.execute(
        select(events.c.id).where(
            events.c.message_id == message_id, events.c.public_id == public_id
        )
    ).scalar()


# --- projects and routes ----------------------------------------------------------------------


def route_counts(conn: Connection, project_ids: Iterable[int]) -> dict[int, int]:
    ids = list(project_ids)
    counted = conn.execute(
        select(routes.c.project_id, func.count())
        .where(routes.c.project_id.in_(ids))
        .group_by(routes.c.project_id)
    )
    found = {row[0]: int(row[1]) for row in counted}
    return {project_id: found.get(project_id, 0) for project_id in ids}


@dataclass(slots=True)
class MessageStats:
    """Lettermint's MessageStatsData of one project over a period."""

    transactional: int = 0
    broadcast: int = 0
    inbound: int = 0
    delivered: int = 0
    failed: int = 0

    @property
    def deliverability(self) -> float:
        """Percent of the settled messages that the upstream took; 0 when none settled."""
        settled = self.delivered + self.failed
        return round(100 * self.delivered / settled, 2) if settled else 0.0


def message_stats(
    conn: Connection, project_ids: Iterable[int], since: datetime
) -> dict[int, MessageStats]:
    """Messages per route type (a message whose route is gone counts by its own
    transactional flag) and their outcomes, per project, since ``since``."""
    ids = list(project_ids)
    rows = conn.execute(
        select(
            messages.c.project_id,
            routes.c.route_type,
            messages.c.transactional,
            messages.c.status,
            func.count(),
        )
        .select_from(messages.outerjoin(routes, routes.c.id == messages.c.route_id))
        .where(messages.c.project_id.in_(ids), messages.c.created_at >= since)
        .group_by(
            messages.c.project_id, routes.c.route_type, messages.c.transactional, messages.c.status
        )
    )
    stats: defaultdict[int, MessageStats] = defaultdict(MessageStats)
    for project_id, route_type, transactional, status, number in rows:
        kind = route_type or ("transactional" if transactional else "broadcast")
        figures = stats[project_id]
        setattr(figures, kind, getattr(figures, kind) + number)
        if status in ("delivered", "failed"):
            setattr(figures, status, getattr(figures, status) + number)
    return {project_id: stats[project_id] for project_id in ids}
