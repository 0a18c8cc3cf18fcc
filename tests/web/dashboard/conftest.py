from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.dashboard.support import OPEN


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()
