"""The composition root: settings in, a running mailbeacon out.

:func:`build_services` makes the collaborators (database, token codec, observation writer,
link cache, clock) from explicit settings; :func:`create_app` assembles the ASGI application
from them. Nothing is global: tests build their own services with a temporary database and
a fixed clock.

The application speaks RSGI, granian's own interface: it dispatches ``/c/`` and ``/o/`` to the
raw tracking endpoints before any framework sees them, and everything else to the FastAPI
application (the JSON APIs, /docs) through an ASGI bridge (web/asgi_bridge.py). Its start and
stop (``__rsgi_init__``, ``__rsgi_del__``) start and stop the observation writer, the
background workers and, when there is one, the SMTP relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # see web/asgi_bridge.py
from granian.rsgi import Scope

from .clock import Clock, SystemClock
from .config import Settings
from .core.errors import NotMigrated
from .core.instrumentation.tokens import Keyring, TokenCodec
from .gc_tuning import GcTuning
from .service.accept import Accepted
from .service.cnames import CnameLookup, CnameResolver
from .service.instrumenter import Instrumenter
from .service.tracking_hosts import TrackingHosts
from .store import migrate
from .store import secrets as instance_secrets
from .store.db import Database
from .store.observations import ObservationWriter
from .web.asgi_bridge import serve_asgi
from .web.errors import install_error_handlers
from .web.tracking import LinkCache, TrackingEndpoints

if TYPE_CHECKING:
    from .smtp.relay import SmtpRelay

__all__ = ["Services", "build_services", "create_app"]

log = logging.getLogger(__name__)

# A background task run for the server's lifetime: (services, stop event) -> coroutine.
Worker = Callable[["Services", asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Services:
    settings: Settings
    db: Database
    codec: TokenCodec
    instrumenter: Instrumenter
    clock: Clock
    writer: ObservationWriter
    links: LinkCache
    hosts: TrackingHosts  # tracking hosts and custom domains, in memory
    cnames: CnameLookup  # DNS, for custom domains' CNAME records
    workers: list[Worker] = field(default_factory=list)

    def accepted(self, message: Accepted) -> None:
        """A message was accepted: its first clicks need not wait for the database."""
        self.links.prime(message.message_id, message.copy_ids, message.urls)


def build_services(
    settings: Settings, *, clock: Clock | None = None, db: Database | None = None
) -> Services:
    """Connect, check the schema, and make everything the server needs.

    Raises :class:`NotMigrated` (saying what to run) unless the database is up to date or
    ``settings.auto_migrate`` is on.
    """
    clock = clock or SystemClock()
    db = db or Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    if not migrate.is_up_to_date(db):
        if settings.auto_migrate:
            migrate.upgrade(db)
        else:
            revision = migrate.current_revision(db)
            needed = migrate.head_revision(db)
            raise NotMigrated(
                f"the database ({db.describe()}) is at schema revision {revision or 'empty'}, "
                f"this version needs {needed}: run `mailbeacon migrate` "
                "(or set MAILBEACON_AUTO_MIGRATE=true)",
                current=revision,
                needed=needed,
            )
    keyring = settings.keyring() or _development_keyring(db, clock)
    codec = TokenCodec(keyring, lifetime_days=settings.token_lifetime_days)
    hosts = TrackingHosts(db, settings.public_url, settings.tracking_base_domain)
    return Services(
        settings=settings,
        db=db,
        codec=codec,
        instrumenter=Instrumenter(codec, settings.public_url, hosts),
        clock=clock,
        writer=ObservationWriter(db),
        links=LinkCache(db),
        hosts=hosts,
        cnames=CnameResolver(settings.dns_resolvers, timeout=settings.dns_timeout_seconds),
    )


def _development_keyring(db: Database, clock: Clock) -> Keyring:
    """Development only: a signing key made once and kept in the database, so that links
    keep working across restarts of `make run`."""
    with db.write() as conn:
        secret = instance_secrets.get_or_create(
            conn, "development_signing_key", lambda: secrets.token_urlsafe(32), clock.now()
        )
    return Keyring.parse(f"0:{secret}", setting="MAILBEACON_SIGNING_KEYS")


def create_api(services: Services) -> FastAPI:
    from .web import tracking_domains
    from .web.lettermint import send as lettermint_send
    from .web.lettermint import stats, webhooks
    from .web.lettermint import team as lettermint_team
    from .web.lettr import routes as lettr

    api = FastAPI(
        title="mailbeacon",
        summary="Self-hosted email engagement tracking, speaking the Lettermint and Lettr APIs.",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    api.router.redirect_slashes = False  # the SDKs never follow redirects
    api.state.services = services
    install_error_handlers(api)
    api.include_router(lettermint_send.router, prefix="/v1")
    api.include_router(lettermint_team.router, prefix="/v1")
    api.include_router(stats.router, prefix="/v1")
    api.include_router(webhooks.router, prefix="/v1")
    api.include_router(tracking_domains.router, prefix="/v1")
    api.include_router(tracking_domains.tls_router)
    api.include_router(lettr.router, prefix="/api")
    return api


class MailbeaconApp:
    """The RSGI application: tracking paths raw, the rest through FastAPI. With a ``relay``,
    it also runs the SMTP relay on the same event loop."""

    def __init__(
        self,
        services: Services,
        *,
        relay: SmtpRelay | None = None,
        gc_tuning: GcTuning | None = None,
    ) -> None:
        self.services = services
        self.relay = relay
        self.gc_tuning = gc_tuning  # `mailbeacon serve`'s (gc_tuning.py), not in-process tests'
        self.api = create_api(services)
        self.tracking = TrackingEndpoints(
            services.codec,
            services.links,
            services.writer,
            services.clock,
            ip_privacy=services.settings.ip_privacy,
            trust_forwarded=services.settings.trust_forwarded_for,
            hosts=services.hosts,
        )
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> Awaitable[None]:
        # Not a coroutine itself: granian awaits what this returns, so a click passes through
        # one coroutine (the tracking endpoint's), not two.
        if scope.path.startswith(("/c/", "/o/")):
            return self.tracking(scope, proto)
        return serve_asgi(self.api, scope, proto)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """granian, before it serves: start, on the loop the worker will run (not running yet
        in `mailbeacon serve`'s worker process; the tests' embedded server starts the
        application itself, see tests/support/server.py)."""
        if not loop.is_running():
            try:
                loop.run_until_complete(self.startup())
            except Exception:
                log.exception("startup failed")  # granian's worker then exits, and serve with it
                raise

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_running():
            loop.run_until_complete(self.shutdown())

    async def startup(self) -> None:
        self.services.writer.start(asyncio.get_running_loop())
        if self.relay is not None:
            await self.relay.start()
            log.info("SMTP relay listening on %s", self.relay.describe())
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(worker(self.services, self._stop), name=worker.__name__)
            for worker in self.services.workers
        ]
        if self.gc_tuning is not None:
            self.gc_tuning.install()  # last: what start-up made is frozen

    async def shutdown(self) -> None:
        if self.gc_tuning is not None:
            self.gc_tuning.uninstall()
        if self.relay is not None:
            await self.relay.stop()  # first: messages being stored finish, no new ones come
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
        self.services.writer.stop()


def create_app(
    services: Services, *, relay: SmtpRelay | None = None, gc_tuning: GcTuning | None = None
) -> MailbeaconApp:
    return MailbeaconApp(services, relay=relay, gc_tuning=gc_tuning)


def app_from_environment() -> MailbeaconApp:
    """Granian's factory for ``mailbeacon serve``: settings from the environment (which the
    serve command has completed from its flags)."""
    import os

    from .config import load_settings
    from .workers import default_workers

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    services = build_services(load_settings(os.environ))
    services.workers.extend(default_workers(services.settings))
    relay = None
    if services.settings.smtp_port:
        from .smtp.relay import SmtpRelay

        relay = SmtpRelay(services)
    return create_app(services, relay=relay, gc_tuning=GcTuning())
