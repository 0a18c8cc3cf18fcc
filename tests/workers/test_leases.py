"""Leases taken while a pass runs (Leases.take_more): what the dispatcher's refills rely on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.clock import FixedClock
from mailbeacon.workers.leases import Leases

pytestmark = pytest.mark.anyio

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LENGTH = timedelta(seconds=60)


class Table:
    """The lease column of a few rows, renewed as store.renew_leases renews it."""

    def __init__(self) -> None:
        self.lease: dict[int, datetime] = {}

    def renew(self, ids: Sequence[int], held: datetime, until: datetime) -> set[int]:
        moved = {i for i in ids if self.lease.get(i) == held}
        self.lease.update((i, until) for i in moved)
        return moved


async def test_items_taken_mid_pass_share_its_lease_and_are_renewed_with_it() -> None:
    clock, table = FixedClock(START), Table()
    table.lease = {1: START + LENGTH, 2: START + LENGTH}
    leases = Leases(clock, table.renew, dict(table.lease), length=LENGTH, every=20.0)
    clock.advance(seconds=15)  # the pass's lease has 45 s left: new items may join it

    async def take(lease: datetime | None) -> list[int]:
        assert lease == START + LENGTH  # the held items' lease, not a fresh one of its own
        table.lease[3] = lease
        return [3]

    await leases.take_more(take)
    await leases.renew_now()
    assert table.lease == dict.fromkeys((1, 2, 3), clock.now() + LENGTH)  # one renewal, all
    assert await leases.release(3) == clock.now() + LENGTH


async def test_nothing_joins_a_lease_that_may_run_out_before_the_next_renewal() -> None:
    clock, table = FixedClock(START), Table()
    table.lease = {1: START + LENGTH}
    leases = Leases(clock, table.renew, dict(table.lease), length=LENGTH, every=20.0)
    clock.advance(seconds=45)  # renewals failed: 15 s left, less than a renewal's interval
    offered: list[datetime | None] = []

    async def take(lease: datetime | None) -> list[int]:
        offered.append(lease)
        return []

    await leases.take_more(take)
    assert offered == [None]
    await leases.release(1)
    await leases.take_more(take)  # nothing held: a fresh lease
    assert offered[-1] == clock.now() + LENGTH
