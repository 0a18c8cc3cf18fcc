"""The feed of changed links, as one serve process follows it, on both databases: a process
that was stopped while a link changed catches up from the mark its hit journal keeps, so the
destination its journal held before is never served again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mailbeacon.service import link_fixes
from mailbeacon.service.link_feed import LinkFeed
from mailbeacon.service.links import LinkCache
from mailbeacon.store import link_changes, retention, tenancy
from mailbeacon.store.db import Database
from mailbeacon.store.ids import new_id
from mailbeacon.store.journal import Journal
from mailbeacon.store.link_changes import LinkScope
from mailbeacon.store.schema import links, messages
from tests.support.tenants import new_tenant

OLD, NEW = "https://shop.example/old", "https://shop.example/new"


def _message(db: Database, project_id: int, urls: list[str], now: datetime) -> int:
    """A message with these links, as accepting one stores it."""
    with db.write() as conn:
        message_id = conn.execute(
            messages.insert()
            .values(
                public_id=new_id(),
                project_id=project_id,
                source="lettermint",
                status="delivered",
                from_email="s@shop.example",
                to=[],
                cc=[],
                bcc=[],
                reply_to=[],
                tags=[],
                metadata={},
                attachments=[],
                raw=b"",
                track_opens=True,
                track_clicks=True,
                status_changed_at=now,
                created_at=now,
            )
            .returning(messages.c.id)
        ).scalar_one()
        conn.execute(
            links.insert(),
            [
                {
                    "message_id": message_id,
                    "link_index": i,
                    "url": u,
                    "anchor_text": "a",
                    "element": "a",
                }
                for i, u in enumerate(urls)
            ],
        )
    return int(message_id)


def test_a_restarted_process_catches_up_with_links_changed_while_it_was_down(
    make_services: Callable[..., Any], database_url: str
) -> None:
    services = make_services(database_url)
    db, now = services.db, services.clock.now()
    tenant = new_tenant(db, services.clock)
    message_id = _message(db, tenant.project.id, [OLD], now)
    path = services.shipper.journal.path

    def process() -> tuple[Journal, LinkCache, LinkFeed]:
        """A serve process's journal, cache and feed, as app.py starts them."""
        journal = Journal(path)
        journal.open()
        cache = LinkCache(db)
        cache.back_with(journal)
        return journal, cache, LinkFeed(db, cache)

    journal, cache, feed = process()
    assert feed.poll_once() == 0  # a new journal starts from the feed's end
    cache.prime(message_id, [7], [OLD])  # a click served: the destination kept
    cache.persist()
    assert journal.links_of(7) == (message_id, [OLD])
    journal.close()  # the process stops

    with db.write() as conn:  # meanwhile the link is fixed
        link_changes.change_link(conn, message_id, 0, NEW, "test", now)
        link_changes.invalidate(conn, [message_id], now)

    journal, cache, feed = process()  # it starts again, the journal as it was
    assert journal.links_of(7) == (message_id, [OLD])
    assert feed.poll_once() == 1
    assert journal.links_of(7) == (message_id, [NEW])
    assert feed.poll_once() == 0  # followed once
    journal.close()

    # down longer than the feed keeps its entries: what was missed is read again
    later = now + timedelta(days=8)
    with db.write() as conn:
        link_changes.change_link(conn, message_id, 0, OLD, "test", now)
        link_changes.invalidate(conn, [message_id], now)
        link_changes.invalidate(conn, [999], later)  # something else, after
        assert retention.purge_invalidations(conn, later, 100) == 2  # the newest stays
    journal, cache, feed = process()
    assert journal.links_of(7) == (message_id, [NEW])  # stale now
    feed.poll_once()
    assert journal.links_of(7) is None  # forgotten: read again from the database
    journal.close()


def test_a_fix_by_destination_goes_in_batches_over_every_project_of_the_team(
    make_services: Callable[..., Any], database_url: str
) -> None:
    services = make_services(database_url)
    db, now = services.db, services.clock.now()
    tenant = new_tenant(db, services.clock)
    with db.write() as conn:
        second, _ = tenancy.create_project(conn, tenant.team.id, "Second", now)
    stranger = new_tenant(db, services.clock, "Stranger")
    ours = [_message(db, tenant.project.id, [OLD, "https://x.example", OLD], now) for _ in range(3)]
    ours.append(_message(db, second.id, [OLD], now))
    theirs = _message(db, stranger.project.id, [OLD], now)

    fixed = link_fixes.fix_links(db, tenant.team, OLD, NEW, LinkScope(), "test", now, batch=2)

    assert fixed == link_fixes.FixedLinks(links=7, messages=4)
    with db.read() as conn:
        assert link_changes.current_links(conn, [*ours, theirs]) == {
            **dict.fromkeys(ours[:3], (NEW, "https://x.example", NEW)),
            ours[3]: (NEW,),
            theirs: (OLD,),  # another team's: untouched
        }
        assert [c.link_index for c in link_changes.changes_of(conn, ours[0])] == [0, 2]
