"""A breakdown's cursor: tied to its query, pinned to the first page's moment, and usable for
an hour (core/analytics/shape.py CURSOR_LIFETIME)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.core.analytics import shape
from mailbeacon.core.errors import ApiError

FIRST = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
QUERY = {"metrics": ["delivered"], "group_by": ["tag"]}


def test_a_cursor_is_pinned_to_its_first_page_while_it_lasts() -> None:
    cursor = shape.encode_cursor(QUERY, 50, FIRST)
    later = FIRST + shape.CURSOR_LIFETIME
    assert shape.cursor_moment(cursor, later) == FIRST
    assert shape.decode_cursor(cursor, QUERY) == 50


def test_an_old_cursor_is_a_422_saying_it_expired() -> None:
    cursor = shape.encode_cursor(QUERY, 50, FIRST)
    with pytest.raises(ApiError) as raised:
        shape.cursor_moment(cursor, FIRST + shape.CURSOR_LIFETIME + timedelta(seconds=1))
    assert (raised.value.status, raised.value.code) == (422, "cursor_expired")
    assert raised.value.errors
    assert "expired" in raised.value.errors["cursor"][0]


def test_a_cursor_from_the_future_or_of_another_query_is_refused() -> None:
    ahead = shape.encode_cursor(QUERY, 50, FIRST + timedelta(hours=1))
    with pytest.raises(ApiError) as raised:
        shape.cursor_moment(ahead, FIRST)
    assert raised.value.status == 422
    assert raised.value.code != "cursor_expired"
    with pytest.raises(ApiError):
        shape.decode_cursor(shape.encode_cursor(QUERY, 50, FIRST), {**QUERY, "limit": 2})
