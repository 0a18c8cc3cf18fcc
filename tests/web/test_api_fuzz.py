"""The served OpenAPI document, fuzzed: schemathesis generates requests for every operation of
the Team, Sending and Lettr APIs (valid ones and, from the schema, invalid ones) against a
real server on each database. No request may get a 5xx, and every 4xx is the one error shape.

Examples are bounded (the suite's time is bounded); CI runs more of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mailbeacon.app import build_services, create_app
from tests.conftest import make_settings
from tests.support import databases
from tests.support.server import serve_in_thread
from tests.support.tenants import Tenant, new_tenant

EXAMPLES = 25 if os.environ.get("CI") == "true" else 10


class Target:
    def __init__(self, base: str, tenant: Tenant) -> None:
        self.base = base
        self.tenant = tenant

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/api"):
            return {"authorization": f"Bearer {self.tenant.sending_token}"}
        return {
            "authorization": f"Bearer {self.tenant.team_token}",
            "x-lettermint-token": self.tenant.sending_token,
        }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(Path(tmp_path_factory.mktemp("db")))])
    else:
        urls = databases.fresh_postgres()
    url = next(urls)
    # The address guard would resolve fuzzed webhook hosts: no DNS here, refused at once.
    services = build_services(
        make_settings(url, dns_resolvers="127.0.0.1:9", dns_timeout_seconds="0.2")
    )
    app = create_app(services, workers={})
    try:
        with serve_in_thread(app) as base:
            yield Target(base, new_tenant(services.db, services.clock))
    finally:
        services.db.dispose()
        next(urls, None)  # the PostgreSQL database is dropped


def error_shape(response: Any) -> None:
    """Every 4xx answer is the one JSON error shape (web/errors.py)."""
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("message"), str), body
    assert body.get("error_code") == body["error"]["code"], body
    assert body["error"]["message"] == body["message"], body
    errors = body.get("errors", {})
    assert isinstance(errors, dict), body
    for messages in errors.values():
        assert isinstance(messages, list), body
        assert all(isinstance(m, str) for m in messages), body


def operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path.startswith(("/v1/", "/api/"))]


def test_no_request_gets_a_server_error(target: Target) -> None:
    checked = []
    for operation in operations(target.base):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case: Any) -> None:
            response = case.call(
                base_url=target.base, headers=target.headers(case.path), timeout=30
            )
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:500]}"
            )
            error_shape(response)

        call()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 30, checked  # the Team, Sending and Lettr APIs were all reached
