"""core/lettr/paging.py: pages of exactly ``per_page`` items over rows that make several."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.errors import ApiError
from mailbeacon.core.lettr.paging import Cursor, Group, cut, decode_cursor, encode_cursor


def read_all(sizes: list[int], per_page: int) -> list[list[str]]:
    """Page through groups of these sizes as a store would: each page reads ``per_page + 1``
    groups from the cursor's key on (keys descend, like the lists' newest-first order)."""
    groups = [
        Group((len(sizes) - n,), [f"{n}.{i}" for i in range(size)]) for n, size in enumerate(sizes)
    ]
    pages, cursor = [], None
    while True:
        rest = [g for g in groups if cursor is None or g.key[0] <= cursor.key[0]]
        page = cut(rest[: per_page + 1], cursor, per_page)
        pages.append(page.items)
        if page.next is None:
            return pages
        cursor = decode_cursor(encode_cursor(page.next), [int])
        assert len(pages) <= sum(sizes) + 1


@given(st.lists(st.integers(1, 6), max_size=30), st.integers(1, 7))
def test_pages_hold_every_item_once_in_order_and_exactly_per_page(
    sizes: list[int], per_page: int
) -> None:
    pages = read_all(sizes, per_page)
    everything = [f"{n}.{i}" for n, size in enumerate(sizes) for i in range(size)]
    assert [item for page in pages for item in page] == everything
    assert all(len(page) == per_page for page in pages[:-1])
    assert len(pages[-1]) <= per_page


def test_a_page_can_end_inside_a_group() -> None:
    page = cut([Group((9,), ["a", "b", "c"]), Group((8,), ["d"])], None, 2)
    assert page.items == ["a", "b"]
    assert page.next == Cursor((9,), 2)
    assert cut([Group((9,), ["a", "b", "c"]), Group((8,), ["d"])], page.next, 2).items == ["c", "d"]


@pytest.mark.parametrize(
    "text", ["%%%", "bm90IGpzb24", "WzFd", "WyJ4IiwxXQ", "WzEsLTFd", "WzEuNSwwXQ"]
)
def test_a_cursor_not_of_this_shape_is_a_422(text: str) -> None:
    """Not base64, not JSON, too short, a key of the wrong type, a negative count, a float."""
    with pytest.raises(ApiError) as caught:
        decode_cursor(text, [int])
    assert caught.value.status == 422
    assert caught.value.errors == {"cursor": [caught.value.message]}
