"""Several `mailbeacon migrate` at once (every container running it at start) all succeed:
PostgreSQL's advisory lock (store/migrations/env.py) lets one migrate while the others wait."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbeacon.store import migrate
from mailbeacon.store.db import Database
from tests.conftest import SIGNING_KEYS
from tests.support import databases
from tests.support.process import MAILBEACON


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    yield from databases.empty_postgres()


def test_three_migrations_started_together_all_succeed(
    empty_postgres_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MAILBEACON_DATABASE_URL": empty_postgres_url,
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
    }
    runs = [
        subprocess.Popen(
            [MAILBEACON, "migrate"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(run.wait(120), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    db = Database(empty_postgres_url)
    try:
        assert migrate.is_up_to_date(db)
    finally:
        db.dispose()
