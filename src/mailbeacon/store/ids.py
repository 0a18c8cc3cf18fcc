"""Public ids: UUIDs in the version 7 layout (RFC 9562), time-ordered.

A random UUID (version 4) lands anywhere in its unique index, so every insert dirties a
random page; time-ordered ids are appended, like the rows they name. Version 7 also keeps
an id's creation time readable and sorts by it, while its 74 random bits keep ids unguessable.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_id"]


def new_id() -> str:
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80  # unix_ts_ms
    value |= 0x7 << 76  # version 7
    value |= (random >> 68) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # the RFC 9562 variant
    value |= random & ((1 << 62) - 1)  # rand_b: 62 bits
    return str(uuid.UUID(int=value))
