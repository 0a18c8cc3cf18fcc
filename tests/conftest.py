"""Shared test configuration and fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from mailbeacon.app import Services, build_services, build_workers, create_app
from mailbeacon.clock import FixedClock
from mailbeacon.config import Settings, load_settings
from mailbeacon.gc_tuning import GcTuning
from mailbeacon.store.db import Database
from tests.support import databases
from tests.support.server import serve_in_thread
from tests.support.tenants import Tenant, new_tenant

# CI runs more examples; locally the default keeps the suite quick. No deadline: shared
# machines stall at random and a slow example is not a failure.
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

SIGNING_KEYS = "1:" + "t3st-s1gning-k3y-0123456789abcdefghij"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVALUATION_PROPERTY = "classifier_evaluation"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    databases.drop_template()


# The classifier evaluation's lines (tests/core/test_classify_evaluation.py), sent as the test
# report's user property: reports reach the controlling process under pytest-xdist too.
_EVALUATION: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        for name, value in report.user_properties:
            if name == EVALUATION_PROPERTY:
                _EVALUATION.extend(str(value).splitlines())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the classifier evaluation (tests/core/test_classify_evaluation.py) after a run."""
    lines = _EVALUATION
    if lines:
        terminalreporter.section("classifier evaluation")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        yield databases.fresh_sqlite(tmp_path)
    else:
        yield from databases.fresh_postgres()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (for what only PostgreSQL can show)."""
    yield from databases.fresh_postgres()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return databases.fresh_sqlite(tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def make_settings(database_url: str, **env: str) -> Settings:
    values = {
        "MAILBEACON_DATABASE_URL": database_url,
        "MAILBEACON_SIGNING_KEYS": SIGNING_KEYS,
        "MAILBEACON_PUBLIC_URL": "http://t.example.test",
        "MAILBEACON_SETTLE_SECONDS": "5",
    }
    values.update({f"MAILBEACON_{k.upper()}": v for k, v in env.items()})
    return load_settings(values)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def make_services(clock: FixedClock, tmp_path: Path) -> Iterator[Callable[..., Services]]:
    made: list[Services] = []

    def make(database_url: str, **env: str) -> Services:
        # each its own hit journal, never one a PostgreSQL test left in the working directory
        env.setdefault("journal_dir", str(tmp_path / f"hits-{len(made)}"))
        services = build_services(make_settings(database_url, **env), clock=clock)
        made.append(services)
        return services

    yield make
    for services in made:
        services.db.dispose()


@pytest.fixture
def tenant_factory(clock: FixedClock) -> Callable[[Database], Tenant]:
    def make(database: Database, name: str = "Acme") -> Tenant:
        return new_tenant(database, clock, name)

    return make


@pytest.fixture
def running(make_services: Callable[..., Services]) -> Callable[..., Any]:
    """``with running(url, **env) as (base_url, services):`` a real server on a free port.
    Workers are off unless asked for by name with workers=["promoter", ...]."""
    import contextlib

    @contextlib.contextmanager
    def run(
        database_url: str, *, workers: list[str] | None = None, **env: str
    ) -> Iterator[tuple[str, Services]]:
        services = make_services(database_url, **env)
        # with serve's collector tuning (gc_tuning.py): this process holds the whole suite's
        # objects, and a full collection of them stalled the server's clicks for up to 0.85 s
        app = create_app(
            services,
            workers=build_workers(services, only=workers or ()),
            gc_tuning=GcTuning(),
        )
        with serve_in_thread(app) as base:
            yield base, services

    return run
