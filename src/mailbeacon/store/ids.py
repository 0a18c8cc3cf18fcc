"""Public ids: UUIDs in the version 7 layout (RFC 9562), time-ordered.

A random UUID (version 4) lands anywhere in its unique index, so every insert dirties a
random page; time-ordered ids are appended, like the rows they name. Version 7 also keeps
an id's creation time readable and sorts by it, while its 74 random bits keep ids unguessable.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_ids"]

# a random hex digit's low 2 bits under the variant's 0b10: 8, 9, a or b
_VARIANT = {digit: f"{0b1000 | (int(digit, 16) & 0b11):x}" for digit in "0123456789abcdef"}


def new_id() -> str:
    return new_ids(1)[0]


def new_ids(count: int) -> list[str]:
    """``count`` ids of this millisecond (the promoter names thousands of events at once).

    Written as text directly from one read of the random source: a read, the integer
    arithmetic and ``uuid.UUID`` per id cost more than the rest of an event's bookkeeping."""
    millis = f"{(time.time_ns() // 1_000_000) & ((1 << 48) - 1):012x}"  # unix_ts_ms
    head = f"{millis[:8]}-{millis[8:]}-7"  # and the version
    digits = os.urandom(10 * count).hex()
    # per id, 19 of its 20 random digits: rand_a (12 bits), the RFC 9562 variant (0b10) over
    # 2 random bits, rand_b's other 60 bits
    return [
        f"{head}{digits[start : start + 3]}-{_VARIANT[digits[start + 3]]}"
        f"{digits[start + 4 : start + 7]}-{digits[start + 7 : start + 19]}"
        for start in range(0, 20 * count, 20)
    ]
