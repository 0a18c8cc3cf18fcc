"""Webhooks end to end: a real mailbeacon server (the Lettermint SDK creates the webhooks, a
browser-like client clicks), a real receiver on loopback, and the dispatcher's passes called
directly on the fixed clock (the schedule is driven by moving the clock, never by sleeping).

The clock starts at the real time (the verifiers check signatures against it) and moves only
when a test moves it. Private addresses are allowed here, since the receiver is on loopback;
the tests of the address rule turn that off.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lettermint import Lettermint

from mailbeacon.app import Services, build_dispatcher
from mailbeacon.clock import FixedClock
from mailbeacon.workers.dispatcher import Dispatcher
from tests.support.receiver import Receiver, receiving
from tests.support.tenants import Tenant, new_tenant
from tests.support.workers import promote

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PERSON = {"user-agent": CHROME, "accept-language": "en-GB,en;q=0.9"}
HTML = (
    "<html><body><p>Your order</p>"
    '<a href="https://shop.example/a">First</a> <a href="https://shop.example/b">Second</a>'
    "</body></html>"
)
TRACKING = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Site:
    """A running mailbeacon, a tenant with the SDK, a receiver, and a dispatcher."""

    base: str
    services: Services
    tenant: Tenant
    lm: Lettermint
    receiver: Receiver
    hook_base: str  # the receiver's base URL
    dispatcher: Dispatcher

    @property
    def clock(self) -> FixedClock:
        clock = self.services.clock
        assert isinstance(clock, FixedClock)
        return clock

    @property
    def team(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.team_token}"}

    def create(self, path: str = "/hook", **fields: Any) -> dict[str, Any]:
        body = {"name": "Receiver", "url": self.hook_base + path, "events": ["message.clicked"]}
        created: dict[str, Any] = self.lm.webhooks.create({**body, **fields})["data"]  # type: ignore[typeddict-item]
        return created

    def send(self, **fields: Any) -> str:
        body = {
            "from": "Shop <shop@shop.example>",
            "to": ["ann@example.org"],
            "subject": "Your order",
            "html": HTML,
            "metadata": {"order": "42"},
            "tag": "receipts",
            **fields,
        }
        return str(self.lm.emails.send(body)["message_id"])  # type: ignore[typeddict-item]

    def tokens(self, message_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"o": [], "c": []}
        for kind, token in TRACKING.findall(self.lm.messages.html(message_id)):
            found[kind].append(token)
        return found

    def click(self, message_id: str, link: int = 1, **headers: str) -> None:
        """Link 0 is the hidden honeypot, 1 the first visible link."""
        token = self.tokens(message_id)["c"][link]
        httpx.get(f"{self.base}/c/{token}", headers=headers or PERSON)

    def open(self, message_id: str) -> None:
        [pixel] = self.tokens(message_id)["o"]
        httpx.get(f"{self.base}/o/{pixel}", headers=PERSON)

    def promote(self) -> None:
        self.clock.advance(seconds=6)  # past the settle window
        promote(self.services)

    async def deliver(self, limit: int | None = None) -> int:
        if limit is None:
            return await self.dispatcher.run_once()
        return await self.dispatcher.run_once(limit=limit)


@pytest.fixture
def receiver_site() -> Iterator[tuple[Receiver, str]]:
    with receiving() as running:
        yield running


@pytest.fixture
def open_site(
    running: Callable[..., Any], clock: FixedClock, receiver_site: tuple[Receiver, str]
) -> Callable[..., Any]:
    """``async with open_site(url, **env) as site``: every setting as MAILBEACON_<NAME>."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(database_url: str, **env: str) -> AsyncIterator[Site]:
        env.setdefault("webhook_allow_private_networks", "true")
        clock.set(datetime.now(UTC).replace(microsecond=0))
        with running(database_url, **env) as (base, services):
            tenant = new_tenant(services.db, clock)
            client = Lettermint(
                sending_token=tenant.sending_token,
                team_token=tenant.team_token,
                base_url=f"{base}/v1",
            )
            receiver, hook_base = receiver_site
            dispatcher = build_dispatcher(services)
            try:
                with client:
                    yield Site(base, services, tenant, client, receiver, hook_base, dispatcher)
            finally:
                await dispatcher.aclose()

    return make


@pytest.fixture
async def site(open_site: Callable[..., Any], sqlite_url: str) -> AsyncIterator[Site]:
    async with open_site(sqlite_url) as opened:
        yield opened


@pytest.fixture
async def any_site(open_site: Callable[..., Any], database_url: str) -> AsyncIterator[Site]:
    """The same, on SQLite and on PostgreSQL."""
    async with open_site(database_url) as opened:
        yield opened
