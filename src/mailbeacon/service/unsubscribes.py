"""A recipient's one-click unsubscribe (RFC 8058): ``message.unsubscribed``, its counter,
and the suppression that keeps further broadcast mail from them.

Recorded once per copy: the copy's ``unsubscribed_at`` is set by a conditional update, so a
second POST (a mail provider retrying, a person clicking twice), or two at once on several
processes, records nothing more and fires no second webhook. The suppression is the route's
when it is a broadcast route, else the project's, and applies to broadcast mail only: an
unsubscribe never stops transactional mail (core/suppressions.py).
"""

from __future__ import annotations

from datetime import datetime

from ..core.errors import NotFound
from ..core.events import Event
from ..core.suppressions import normal_address
from ..store import recipients, rollups, suppressions
from ..store.db import Database
from ..store.ids import new_id
from . import events

__all__ = ["unsubscribe"]


def unsubscribe(db: Database, copy_id: int, now: datetime) -> bool:
    """Unsubscribe the recipient of copy ``copy_id``; whether this call did (False: it was
    done before). Raises :class:`NotFound` for a copy that is gone."""
    with db.write() as conn:
        copy = recipients.copy_facts(conn, copy_id)
        if copy is None:
            raise NotFound("unsubscribe link")
        if not recipients.mark_unsubscribed(conn, copy_id, now):
            return False
        counters = rollups.Deltas()
        counters.bump(
            rollups.key(copy.project_id, copy.route_id, copy.tag, now.date()), unsubscribed=1
        )
        event = Event(
            public_id=new_id(),
            project_id=copy.project_id,
            message_id=copy.message_id,
            copy_id=copy.copy_id,
            type="message.unsubscribed",
            at=now,
            recipient=copy.recipient,
            data={"method": "one_click"},
        )
        events.record(conn, [event], now, counters)
        on_route = copy.route_type == "broadcast"
        new = suppressions.NewSuppression(
            normal_address(copy.recipient),
            "unsubscribe",
            "route" if on_route else "project",
            "broadcast",
            project_id=copy.project_id,
            route_id=copy.route_id if on_route else None,
            source_message_id=copy.message_id,
        )
        suppressions.add(conn, copy.team_id, [new], now)
    return True
