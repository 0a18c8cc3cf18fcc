"""Links changed after sending: the change itself, its audit trail, and the feed of messages
whose links every process must read again (``link_invalidations``).

A change rewrites ``links.url`` (where the next click goes) and appends to ``link_changes``
(who, when, old, new); events already recorded keep the destination they were recorded with.
Every change of a message's links (a fix here, an erasure in service/erasure.py) also appends
the message to the feed, which each serve process and each promoter polls by id
(service/link_feed.py), so all of them follow within a second, on either database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select, tuple_, update

from .schema import link_changes, link_invalidations, links, messages

__all__ = [
    "FeedEntry",
    "LinkChange",
    "LinkScope",
    "change_link",
    "changes_of",
    "current_links",
    "history",
    "invalidate",
    "invalidations_after",
    "matching_links",
    "newest_invalidation",
    "oldest_invalidation",
]


@dataclass(frozen=True, slots=True)
class LinkChange:
    link_index: int
    old_url: str
    new_url: str
    changed_by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LinkScope:
    """Which of a team's messages a change by destination covers (None: any; project_id:
    one of the team's projects, checked by the caller)."""

    project_id: int | None = None
    route_id: int | None = None
    tag: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class FeedEntry(NamedTuple):
    id: int
    message_id: int
    copy_ids: list[int] | None  # an erasure's copies, whose journalled hits lose their fields


def change_link(
    conn: Connection,
    message_id: int,
    link_index: int,
    new_url: str,
    changed_by: str,
    now: datetime,
) -> LinkChange | None:
    """Point one link at ``new_url`` and record it; None when the message has no such link.
    A link already pointing there is left as it is (nothing recorded), and returned as a
    change from the URL to itself."""
    this = (links.c.message_id == message_id, links.c.link_index == link_index)
    old = conn.execute(select(links.c.url).where(*this)).scalar()
    if old is None:
        return None
    change = LinkChange(link_index, old, new_url, changed_by, now)
    if old == new_url:
        return change
    conn.execute(update(links).where(*this).values(url=new_url))
    conn.execute(
        link_changes.insert().values(
            message_id=message_id,
            link_index=link_index,
            old_url=old,
            new_url=new_url,
            changed_by=changed_by,
            at=now,
        )
    )
    return change


def invalidate(
    conn: Connection,
    message_ids: Collection[int],
    now: datetime,
    *,
    erased_copies: dict[int, list[int]] | None = None,
) -> None:
    """Tell every process that these messages' links changed (and, for an erasure, which of
    their copies' hits still waiting in a journal must lose their personal fields)."""
    if message_ids:
        conn.execute(
            link_invalidations.insert(),
            [
                {
                    "message_id": m,
                    "copy_ids": (erased_copies or {}).get(m),
                    "at": now,
                }
                for m in sorted(message_ids)
            ],
        )


def matching_links(
    conn: Connection,
    project_id: int,
    url: str,
    scope: LinkScope,
    after: tuple[int, int],
    limit: int,
) -> list[tuple[int, int]]:
    """(message id, link index) of the project's links pointing at ``url`` within ``scope``,
    after ``after`` in key order: one batch of a change by destination. Per project, so that
    the project's messages are walked in id order from ``after`` and the LIMIT ends the walk
    (across projects the rows would have to be sorted, all of them, every batch)."""
    query = (
        select(links.c.message_id, links.c.link_index)
        .join(messages, messages.c.id == links.c.message_id)
        .where(
            messages.c.project_id == project_id,
            links.c.url == url,
            tuple_(links.c.message_id, links.c.link_index) > tuple_(*after),
        )
        .order_by(messages.c.id, links.c.link_index)
        .limit(limit)
    )
    filters: list[Any] = []
    if scope.route_id is not None:
        filters.append(messages.c.route_id == scope.route_id)
    if scope.tag is not None:
        filters.append(messages.c.tag == scope.tag)
    if scope.created_from is not None:
        filters.append(messages.c.created_at >= scope.created_from)
    if scope.created_to is not None:
        filters.append(messages.c.created_at <= scope.created_to)
    return [(row[0], row[1]) for row in conn.execute(query.where(*filters))]


def changes_of(conn: Connection, message_id: int) -> list[LinkChange]:
    """The message's link changes, oldest first."""
    rows = conn.execute(
        select(link_changes)
        .where(link_changes.c.message_id == message_id)
        .order_by(link_changes.c.id)
    )
    return [LinkChange(r.link_index, r.old_url, r.new_url, r.changed_by, r.at) for r in rows]


def history(
    conn: Connection, message_ids: Collection[int]
) -> dict[int, dict[int, list[tuple[datetime, str]]]]:
    """Of these messages, those with links changed after sending: per link index, each
    change as (when, the URL before it), oldest first."""
    found: dict[int, dict[int, list[tuple[datetime, str]]]] = {}
    if not message_ids:
        return found
    rows = conn.execute(
        select(link_changes.c.message_id, link_changes.c.link_index, link_changes.c.at)
        .add_columns(link_changes.c.old_url)
        .where(link_changes.c.message_id.in_(list(message_ids)))
        .order_by(link_changes.c.id)
    )
    for message_id, link_index, at, old_url in rows:
        found.setdefault(message_id, {}).setdefault(link_index, []).append((at, old_url))
    return found


def newest_invalidation(conn: Connection) -> int:
    return int(conn.execute(select(func.max(link_invalidations.c.id))).scalar() or 0)


def oldest_invalidation(conn: Connection) -> int | None:
    found = conn.execute(select(func.min(link_invalidations.c.id))).scalar()
    return None if found is None else int(found)


def invalidations_after(conn: Connection, last_id: int, limit: int) -> list[FeedEntry]:
    rows = conn.execute(
        select(
            link_invalidations.c.id, link_invalidations.c.message_id, link_invalidations.c.copy_ids
        )
        .where(link_invalidations.c.id > last_id)
        .order_by(link_invalidations.c.id)
        .limit(limit)
    )
    return [FeedEntry(r[0], r[1], r[2]) for r in rows]


def current_links(conn: Connection, message_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
    """The destinations of these messages' links, by link index (the redirect's view)."""
    found: dict[int, list[str]] = {m: [] for m in message_ids}
    if not found:
        return {}
    rows = conn.execute(
        select(links.c.message_id, links.c.url)
        .where(links.c.message_id.in_(list(found)))
        .order_by(links.c.message_id, links.c.link_index)
    )
    for message_id, url in rows:
        found[message_id].append(url)
    return {m: tuple(urls) for m, urls in found.items()}
