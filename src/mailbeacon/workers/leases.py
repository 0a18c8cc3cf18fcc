"""Short leases, renewed while the work they cover is in progress.

A worker leases what it claims (recipient copies, webhook deliveries) so that no other worker
takes it meanwhile, and a lease that runs out makes the work due again: that is how a crashed
worker's work resumes. A lease long enough to cover the slowest possible pass (7 minutes for
copies, 6 for deliveries) kept a crashed worker's work waiting that long. So a lease is now
short (:data:`LEASE`, a minute) and renewed every :data:`RENEW_EVERY` seconds for the items the
pass still holds: a live worker never loses its work, a dead one's resumes within a minute.

Renewing and recording exclude each other (one asyncio lock): an item is released (no longer
renewed) before its outcome is written, and the lease it holds then is the one its record
checks, so a renewal can never slip between the two.

A pass may take more items while it runs (:meth:`Leases.take_more`: the dispatcher claims
replacements in the transaction that records outcomes). New items are leased until the lease
the held ones share, so one renewal still moves them all, and while they are taken renewals
wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType

from ..clock import Clock

__all__ = ["LEASE", "RENEW_EVERY", "Leases", "Renew", "renewal_interval"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RENEW_EVERY = 20.0  # seconds: three renewals may fail before a live worker's lease runs out


def renewal_interval(lease: timedelta) -> float:
    """Seconds between renewals of a lease this long: three chances before it runs out."""
    return min(RENEW_EVERY, lease.total_seconds() / 3)


# (ids still held, the lease they hold, the new lease) -> the ids whose lease was moved; a
# store function, run in a thread
Renew = Callable[[Sequence[int], datetime, datetime], set[int]]


class Leases:
    """The leases one pass holds, renewed until each item is released."""

    def __init__(
        self,
        clock: Clock,
        renew: Renew,
        held: Mapping[int, datetime],
        *,
        length: timedelta = LEASE,
        every: float = RENEW_EVERY,
    ) -> None:
        self._clock = clock
        self._renew = renew
        self._lease_of = dict(held)  # each item's lease as last written
        self._held = set(held)  # renewed until released (or lost to another worker)
        self._length = length
        self._every = every
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Leases:
        self._task = asyncio.create_task(self._keep(), name="lease-renewal")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def release(self, item: int) -> datetime:
        """Stop renewing ``item``; the lease it holds now (what its record must check)."""
        async with self._lock:
            self._held.discard(item)
            return self._lease_of.pop(item)

    async def take_more(self, take: Callable[[datetime | None], Awaitable[Sequence[int]]]) -> None:
        """Run ``take(lease)``, renewals held off, and hold the items it returns. ``lease`` is
        what ``take`` must lease new items until to join the held ones (a fresh lease when
        none is held), or None when no item may join: renewals have been failing and the
        shared lease may run out before the next one."""
        async with self._lock:
            lease = self._joinable()
            taken = await take(lease)
            if taken and lease is not None:
                self._held.update(taken)
                self._lease_of.update((item, lease) for item in taken)

    def _joinable(self) -> datetime | None:
        now = self._clock.now()
        if not self._held:
            return now + self._length
        shared = max(self._lease_of[i] for i in self._held)
        return shared if shared - now > timedelta(seconds=self._every) else None

    async def renew_now(self) -> None:
        """Move the lease of every item still held to now plus the length."""
        async with self._lock:
            if not self._held:
                return
            ids = sorted(self._held)
            old = max(self._lease_of[i] for i in ids)  # all held share the latest lease
            new = self._clock.now() + self._length
            renewed = await asyncio.to_thread(self._renew, ids, old, new)
            lost = self._held - renewed
            if lost:  # ran out before a renewal: another worker may hold them now
                log.warning("lost the lease of %d items to other workers", len(lost))
            self._held = renewed & self._held
            for item in self._held:
                self._lease_of[item] = new

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.renew_now()
            except Exception:  # the database away: the next renewal may reach it
                log.warning("could not renew leases; retrying", exc_info=True)
