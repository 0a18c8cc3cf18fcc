"""Where a click goes: each message's link destinations, in memory in front of the database.

It lives in the service layer because two sides use it: accepting a message primes it (the
message's first clicks need not wait for the database), and the tracking endpoint reads it.

Backed by the serve process's hit journal (store/journal.py): what the cache learns is written
there behind it (:meth:`LinkCache.persist`, called by the shipper's thread), and a miss asks
the journal before the central database, so a link this process served or sent before a
restart still redirects while the central database is away.

Links can change after sending (a fix, an erasure: store/link_changes.py); service/link_feed.py
follows the database's feed of such changes and hands each process's cache the new
destinations (:meth:`LinkCache.refresh`) within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..store.db import Database
from ..store.journal import Journal
from ..store.messages import message_links

__all__ = ["LinkCache"]


class LinkCache:
    """Destinations by (copy id, link index): dict lookups in front of the database.

    Links belong to the message, so the cache holds each message's link list once and maps
    copies to messages: a first click on any recipient's copy loads the whole message. Accepting
    a message primes the cache (same process), so even first clicks rarely reach the database.
    Links change only through the feed (:meth:`refresh`); a full cache forgets half.
    """

    def __init__(self, db: Database, capacity: int = 500_000) -> None:
        self._db = db
        self._capacity = capacity
        self._journal: Journal | None = None  # `mailbeacon serve`'s, once open (back_with)
        self._message_of: dict[int, int] = {}
        self._links: dict[int, tuple[str, ...]] = {}
        # learnt but not yet in the journal: (message id, copy ids, urls); list.append and
        # swapping the list are atomic under the GIL, so the loop and the threads share it
        self._unsaved: list[tuple[int, tuple[int, ...], tuple[str, ...]]] = []

    def get_cached(self, copy_id: int, link_index: int) -> str | None:
        message = self._message_of.get(copy_id)
        if message is None:
            return None
        urls = self._links.get(message)
        if urls is None or link_index >= len(urls):
            return None
        return urls[link_index]

    def prime(self, message_id: int, copy_ids: Iterable[int], urls: Sequence[str]) -> None:
        if len(self._message_of) >= self._capacity:
            self._message_of = dict(list(self._message_of.items())[self._capacity // 2 :])
            kept = set(self._message_of.values())
            self._links = {m: u for m, u in self._links.items() if m in kept}
        destinations = self._links[message_id] = tuple(urls)
        copies = tuple(copy_ids)
        for copy_id in copies:
            self._message_of[copy_id] = message_id
        if self._journal is not None:
            self._unsaved.append((message_id, copies, destinations))

    def back_with(self, journal: Journal) -> None:
        """From now on, keep what the cache learns in ``journal`` (an open one), and ask it
        on a miss before the central database."""
        self._journal = journal

    def persist(self) -> None:
        """Write what the cache learnt since the last call to the journal (the shipper's
        thread calls it before each pass)."""
        if self._journal is not None and self._unsaved:
            unsaved, self._unsaved = self._unsaved, []
            self._journal.keep_links(unsaved)

    def known(self, message_ids: Iterable[int]) -> set[int]:
        """Which of these messages' links this process holds, in memory or in its journal."""
        wanted = set(message_ids)
        found = {m for m in wanted if m in self._links}
        if self._journal is not None:
            found |= self._journal.known_links(wanted - found)
        return found

    def refresh(self, fresh: dict[int, tuple[str, ...]]) -> None:
        """These messages' links changed: their destinations now (the feed's thread). Only
        messages held are replaced in memory; the journal gets them all (see
        Journal.replace_links), so that no older entry written behind them survives."""
        for message_id, urls in fresh.items():
            if message_id in self._links:
                self._links[message_id] = urls  # one assignment: atomic for the loop's reads
        if self._journal is not None:
            self._journal.replace_links(dict(fresh))

    def anonymise_hits(self, copy_ids: Iterable[int]) -> None:
        """Erased recipients' copies: their hits not yet shipped lose their personal fields."""
        if self._journal is not None:
            self._journal.anonymise_hits(copy_ids)

    @property
    def journal(self) -> Journal | None:
        return self._journal

    async def get(self, copy_id: int, link_index: int) -> str | None:
        url = self.get_cached(copy_id, link_index)
        if url is not None:
            return url
        loaded = await asyncio.get_running_loop().run_in_executor(None, self._load, copy_id)
        if loaded is None:
            return None
        message_id, urls = loaded
        self.prime(message_id, (copy_id,), urls)
        return urls[link_index] if link_index < len(urls) else None

    def _load(self, copy_id: int) -> tuple[int, list[str]] | None:
        if self._journal is not None:
            known = self._journal.links_of(copy_id)
            if known is not None:
                return known
        with self._db.read() as conn:
            return message_links(conn, copy_id)
