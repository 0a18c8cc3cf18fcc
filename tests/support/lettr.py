"""A running server with a tenant and the official lettr SDK, for the Lettr API's tests
(the ``api`` fixture is tests/web/conftest.py's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import lettr
import pytest

from mailbeacon.app import Services
from tests.support import databases
from tests.support.tenants import Tenant, new_tenant

__all__ = ["EACH_DB", "HTML", "Api", "serve_lettr"]

HTML = (
    "<html><body><p>Hi</p>"
    '<a href="https://shop.example/a">First</a>'
    '<a href="https://shop.example/b">Second</a>'
    "</body></html>"
)

# What depends on the database (idempotency, isolation, the queries) runs on both.
EACH_DB = pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)


@dataclass
class Api:
    base: str
    services: Services
    tenant: Tenant
    client: lettr.Lettr

    def send(self, **extra: Any) -> lettr.SendEmailResponse:
        fields: dict[str, Any] = {
            "from_email": "shop@shop.example",
            "to": ["ann@example.org"],
            "subject": "Your order",
            "html": HTML,
            **extra,
        }
        return self.client.emails.send(**fields)

    def post(self, body: Any, **headers: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tenant.sending_token}", **headers}
        return httpx.post(f"{self.base}/api/emails", json=body, headers=headers)

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        token = token or self.tenant.sending_token
        return httpx.get(f"{self.base}/api{path}", headers={"authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tenant.sending_token}"}
        return httpx.request(method, f"{self.base}/api{path}", json=body, headers=headers)

    def other(self, name: str = "Other") -> lettr.Lettr:
        """The SDK with the key of a new project of another team."""
        tenant = new_tenant(self.services.db, self.services.clock, name)
        return lettr.Lettr(tenant.sending_token, base_url=f"{self.base}/api", timeout=10)


def serve_lettr(
    database: str, running: Callable[..., Any], tmp_path: Path, **env: str
) -> Iterator[Api]:
    """A server on ``database`` (sqlite or postgresql), a new tenant and its SDK client.
    Webhooks may call loopback: the tests' receivers are there."""
    env.setdefault("webhook_allow_private_networks", "true")
    if database == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(tmp_path)])
    else:
        urls = databases.fresh_postgres()
    for url in urls:  # fresh_postgres drops its database once the loop ends
        with running(url, **env) as (base, services):
            tenant = new_tenant(services.db, services.clock)
            client = lettr.Lettr(tenant.sending_token, base_url=f"{base}/api", timeout=10)
            try:
                yield Api(base, services, tenant, client)
            finally:
                client.close()
