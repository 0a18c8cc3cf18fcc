"""Lettr's list paging (``per_page`` and an opaque ``cursor``), over rows that each make
several items.

Lettr lists SparkPost events, one per recipient, where mailbeacon stores one row for what
several recipients share (a message and its ``message.created`` event). A page is therefore
cut from *groups*: each stored row with its key (its place in the keyset order) and the items
it makes. The cursor names the group the next page starts in and how many of its items were
already given, so a page holds exactly ``per_page`` items, however many a group makes, and
the store reads pages by key (an index range, never an offset).

The cursor is the key and that count as URL-safe base64 of JSON: opaque to the client, and
harmless when forged (every query is still limited to the caller's project).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import ApiError

__all__ = ["Cursor", "Group", "Page", "cut", "decode_cursor", "encode_cursor"]

Item = TypeVar("Item")
Key = tuple[int | str, ...]  # JSON-safe parts: ids, ISO instants


@dataclass(frozen=True, slots=True)
class Cursor:
    key: Key  # the group the page starts in
    skip: int  # how many of its items earlier pages gave


@dataclass(frozen=True, slots=True)
class Group(Generic[Item]):
    key: Key
    items: Sequence[Item]


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
    next: Cursor | None  # None: this was the last page


def cut(groups: Sequence[Group[Item]], start: Cursor | None, per_page: int) -> Page[Item]:
    """The page of ``per_page`` items that begins at ``start`` (None: the first page).
    ``groups`` are the rows read from ``start``'s key on, in order; reading ``per_page + 1``
    of them is always enough, since every group makes at least one item."""
    items: list[Item] = []
    for position, group in enumerate(groups):
        skip = start.skip if start is not None and position == 0 and group.key == start.key else 0
        for index in range(skip, len(group.items)):
            if len(items) == per_page:
                return Page(items, Cursor(group.key, index))
            items.append(group.items[index])
    return Page(items, None)


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    text = json.dumps([*cursor.key, cursor.skip], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, parts: Sequence[type]) -> Cursor | None:
    """The cursor a previous page answered; its key has one value of each type in ``parts``.
    Anything else is a 422 on ``cursor``, not a page of something unexpected."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    if (
        isinstance(values, list)
        and len(values) == len(parts) + 1
        and all(type(v) is kind for v, kind in zip(values, [*parts, int], strict=True))
        and values[-1] >= 0
    ):
        return Cursor(tuple(values[:-1]), values[-1])
    message = "The cursor parameter must be a next_cursor this API answered."
    raise ApiError(422, message, code="validation_error", errors={"cursor": [message]})
