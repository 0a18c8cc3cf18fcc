"""A real server with a loopback DNS server, and tenants that add tracking domains and send.

``site(**env)`` starts mailbeacon (settings as keyword arguments, MAILBEACON_ left out) with
its resolvers pointed at the test's DNS zone; ``site.tenant(name)`` makes a team with one
project, whose helpers speak the Team API, send mail and read back the links each copy got.
"""

from __future__ import annotations

import contextlib
import email
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.store.schema import copies, messages
from tests.support.dns_server import DnsZone, dns_zone
from tests.support.tenants import Tenant, new_tenant

__all__ = ["HTML", "Link", "Site", "Team", "dns_zone"]

HTML = (
    '<html><body><p>Hello</p><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a></body></html>'
)
_LINK = re.compile(r"(https?)://([^/\"'\s]+)/([co])/([A-Za-z0-9_-]{32})")


@dataclass(frozen=True)
class Link:
    scheme: str
    host: str
    kind: str  # "c" or "o"
    token: str

    @property
    def path(self) -> str:
        return f"/{self.kind}/{self.token}"


@dataclass
class Team:
    site: Site
    tenant: Tenant

    @property
    def sid(self) -> str:
        return self.tenant.project.sid

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tenant.team_token}", **kwargs.pop("headers", {})}
        return self.site.http.request(method, f"/v1{path}", headers=headers, **kwargs)

    def add(self, domain: str, **body: Any) -> httpx.Response:
        return self.api("POST", "/tracking-domains", json={"domain": domain, **body})

    def added(self, domain: str) -> dict[str, Any]:
        answer = self.add(domain)
        assert answer.status_code == 201, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def verify(self, domain_id: str) -> dict[str, Any]:
        answer = self.api("POST", f"/tracking-domains/{domain_id}/verify")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def send(self, html: str = HTML) -> str:
        body = {
            "from": "Shop <shop@shop.example>",
            "to": ["ann@example.org"],
            "subject": "Hi",
            "html": html,
        }
        answer = self.site.http.post(
            "/v1/send",
            json=body,
            headers={"x-lettermint-token": self.tenant.sending_token},
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["message_id"])

    def links(self, message_id: str) -> list[Link]:
        """The tracking URLs of the message's (first) copy, in document order."""
        with self.site.services.db.read() as conn:
            raw = conn.execute(
                select(copies.c.raw)
                .join(messages, messages.c.id == copies.c.message_id)
                .where(messages.c.public_id == message_id)
                .order_by(copies.c.id)
            ).first()
        assert raw is not None
        parsed = email.message_from_bytes(raw[0], policy=policy.default)
        html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        return [Link(*found) for found in _LINK.findall(html)]

    def click(self, message_id: str) -> Link:
        """The link to the shop (the last click link: the honeypot comes first)."""
        return [link for link in self.links(message_id) if link.kind == "c"][-1]


@dataclass
class Site:
    base: str
    services: Services
    zone: DnsZone
    http: httpx.Client  # one client: a new one per request costs ~30 ms of TLS set-up

    def tenant(self, name: str = "Acme") -> Team:
        return Team(self, new_tenant(self.services.db, self.services.clock, name))

    def get(self, path: str, host: str) -> httpx.Response:
        """A request for ``path`` with this Host header, as a client of that host sends it."""
        return self.http.get(path, headers={"host": host})


@pytest.fixture
def site(
    running: Callable[..., Any], sqlite_url: str, dns_zone: DnsZone
) -> Callable[..., contextlib.AbstractContextManager[Site]]:
    @contextlib.contextmanager
    def start(
        database_url: str | None = None, *, workers: list[str] | None = None, **env: str
    ) -> Iterator[Site]:
        env.setdefault("dns_resolvers", dns_zone.resolvers)
        env.setdefault("dns_timeout_seconds", "2")
        with (
            running(database_url or sqlite_url, workers=workers, **env) as (base, services),
            httpx.Client(base_url=base) as http,
        ):
            yield Site(base, services, dns_zone, http)

    return start
