"""gc_tuning: what start-up made and what full collections leave is frozen, then thawed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mailbeacon.gc_tuning import GcTuning


@pytest.fixture
def tuning() -> Iterator[GcTuning]:
    made = GcTuning(thaw_seconds=3600)
    yield made
    made.uninstall()


def test_start_up_objects_and_survivors_of_full_collections_are_frozen(
    tuning: GcTuning,
) -> None:
    before = gc.get_freeze_count()
    tuning.install()
    frozen = gc.get_freeze_count()
    assert frozen > before
    survivors = [[i] for i in range(1000)]  # lists: tracked by the collector
    gc.collect(1)
    assert gc.get_freeze_count() == frozen  # only full collections freeze
    gc.collect(2)
    assert gc.get_freeze_count() >= frozen + len(survivors)
    tuning.uninstall()
    assert gc.get_freeze_count() == 0
    assert tuning._after_collection not in gc.callbacks


def test_frozen_objects_are_thawed_after_a_while_so_cycles_among_them_are_collected(
    tuning: GcTuning,
) -> None:
    class Node:
        pass

    tuning.install()
    cycle = Node()
    cycle.me = cycle  # type: ignore[attr-defined]
    gc.collect(2)  # survives: frozen
    tuning.thaw_seconds = 0  # the next full collection thaws
    del cycle
    gc.collect(2)  # thaws after this one: the cycle is not collectable yet
    assert gc.get_freeze_count() == 0
    assert any(type(o) is Node for o in gc.get_objects())
    gc.collect(2)
    assert not any(type(o) is Node for o in gc.get_objects())
