"""Fixing links after sending: one link of a message, or every link of a team's messages
pointing at a URL (within a project, route, tag or period), pointed at a new URL.

Each change rewrites where the next click goes, is kept in the audit trail shown with the
message (store/link_changes.py), and is announced on the feed every serving process and
promoter follows within a second (service/link_feed.py). A change by destination over many
messages runs in batches of :data:`BATCH` links, each its own short transaction, so that
neither SQLite's write lock nor PostgreSQL's row locks are held long; a batch done stays done
if a later one fails (the answer then is an error, and asking again finishes the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.errors import NotFound
from ..core.lifecycle.destinations import new_destination
from ..store import link_changes, messages, tenancy
from ..store.db import Database
from ..store.link_changes import LinkChange, LinkScope

__all__ = ["BATCH", "FixedLinks", "fix_link", "fix_links"]

BATCH = 500


@dataclass(frozen=True, slots=True)
class FixedLinks:
    links: int  # links pointed at the new URL
    messages: int  # messages they belong to


def fix_link(
    db: Database,
    team: tenancy.Team,
    message_id: str,
    link_index: int,
    url: str,
    changed_by: str,
    now: datetime,
) -> LinkChange:
    """Point link ``link_index`` of the team's message ``message_id`` (a public id) at ``url``."""
    destination = new_destination(url)
    with db.write() as conn:
        message = messages.message_for_team(conn, team.id, message_id)
        if message is None:
            raise NotFound("message")
        change = link_changes.change_link(
            conn, message.id, link_index, destination, changed_by, now
        )
        if change is None:
            raise NotFound("link")
        if change.old_url != change.new_url:
            link_changes.invalidate(conn, [message.id], now)
    return change


def fix_links(
    db: Database,
    team: tenancy.Team,
    url: str,
    new_url: str,
    scope: LinkScope,
    changed_by: str,
    now: datetime,
    *,
    batch: int = BATCH,
) -> FixedLinks:
    """Point every link of the team's messages within ``scope`` whose destination is ``url``
    (exactly, as stored) at ``new_url``, ``batch`` links a transaction."""
    destination = new_destination(new_url, "new_url")
    if destination == url:
        return FixedLinks(0, 0)
    with db.read() as conn:
        owned = [p.id for p in tenancy.list_projects(conn, team.id)]
    if scope.project_id is not None:
        owned = [p for p in owned if p == scope.project_id]
    changed, touched = 0, set[int]()
    for project_id in owned:
        after = (0, -1)
        while True:
            with db.write() as conn:
                found = link_changes.matching_links(conn, project_id, url, scope, after, batch)
                for message_id, link_index in found:
                    link_changes.change_link(
                        conn, message_id, link_index, destination, changed_by, now
                    )
                link_changes.invalidate(conn, {m for m, _ in found}, now)
            changed += len(found)
            touched.update(m for m, _ in found)
            if len(found) < batch:
                break
            after = found[-1]
    return FixedLinks(changed, len(touched))
