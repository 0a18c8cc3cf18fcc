from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lettr import Api, serve_lettr


@pytest.fixture
def api(
    request: pytest.FixtureRequest, running: Callable[..., Any], tmp_path: Path
) -> Iterator[Api]:
    """A server on SQLite with a tenant and the lettr SDK; on each database for the tests
    marked ``EACH_DB``."""
    yield from serve_lettr(getattr(request, "param", "sqlite"), running, tmp_path)
