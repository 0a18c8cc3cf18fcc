"""Public ids: version 7 UUIDs, time-ordered, unguessable."""

from __future__ import annotations

import time
import uuid

from mailbeacon.store.ids import new_id, new_ids

RAND_A = ((1 << 12) - 1) << 64
RAND_B = (1 << 62) - 1
VERSION_AND_VARIANT = (0xF << 76) | (0b11 << 62)


def test_ids_are_version_7_uuids_of_this_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = [*new_ids(1000), new_id()]
    after = time.time_ns() // 1_000_000
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after  # unix_ts_ms: ids sort by creation time
    assert len(set(made)) == len(made)


def test_all_74_random_bits_vary_and_nothing_else_does_within_a_millisecond() -> None:
    values = [uuid.UUID(text).int for text in new_ids(2000)]
    varying = 0
    for value in values:
        varying |= value ^ values[0]
    assert varying & (RAND_A | RAND_B) == RAND_A | RAND_B
    assert varying & VERSION_AND_VARIANT == 0
