"""The composition root: settings in, a running mailbeacon out. It only composes.

:func:`build_services` makes the collaborators (database, token codec, observation writer,
link cache, clock) from explicit settings, into service/context.py's :class:`Services`;
:func:`build_workers` binds each background worker to the collaborators it uses;
:func:`create_app` assembles the application from them. Nothing is global: tests build their
own services with a temporary database and a fixed clock. No module of the package imports
this one: only the entry points (cli/, granian's factory below) do.

The application speaks RSGI, granian's own interface: it dispatches ``/c/`` and ``/o/`` to the
raw tracking endpoints before any framework sees them, and everything else to the FastAPI
application (the JSON APIs, /docs) through an ASGI bridge (web/asgi_bridge.py). Its start and
stop (``__rsgi_init__``, ``__rsgi_del__``) start and stop the observation writer, the
background workers and, when there is one, the SMTP relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import sys
from collections.abc import Awaitable, Collection, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from granian._granian import RSGIHTTPProtocol as HTTPProtocol  # see web/asgi_bridge.py
from granian.rsgi import Scope

from .clock import Clock, SystemClock
from .config import Settings
from .core.instrumentation.tokens import Keyring, TokenCodec
from .gc_tuning import GcTuning
from .parent_death import die_with_serve
from .service.cnames import CnameResolver
from .service.context import Services
from .service.domains import DomainPolicy
from .service.instrumenter import Instrumenter
from .service.link_feed import LinkFeed
from .service.links import LinkCache
from .service.shipper import Shipper
from .service.tracking_hosts import TrackingHosts
from .service.webhook_guard import AddressGuard
from .store import secrets as instance_secrets
from .store.db import Database
from .store.journal import Journal, journal_path
from .store.migrate import open_database
from .store.observations import ObservationWriter
from .supervisor import BACKGROUND_NICE, PROMOTER_CHILD_VARIABLE
from .web.asgi_bridge import serve_asgi
from .web.errors import install_error_handlers
from .web.limits import RequestLimits
from .web.tracking import TrackingEndpoints
from .workers import WORKER_NAMES, Worker
from .workers.dispatcher import Dispatcher, dispatcher_worker
from .workers.domains import DomainChecker, domains_worker
from .workers.outbound import outbound_worker
from .workers.promoter import promoter_worker
from .workers.retention import Retention, RetentionPolicy, retention_worker

if TYPE_CHECKING:
    from .smtp.relay import SmtpRelay

__all__ = [
    "Services",
    "build_dispatcher",
    "build_domain_checker",
    "build_services",
    "build_workers",
    "create_app",
]

log = logging.getLogger(__name__)


def build_services(
    settings: Settings, *, clock: Clock | None = None, db: Database | None = None
) -> Services:
    """Connect, check the schema, and make everything the server needs.

    Raises :class:`~mailbeacon.core.errors.NotMigrated` (saying what to run) unless the
    database is up to date or ``settings.auto_migrate`` is on.
    """
    clock = clock or SystemClock()
    db = open_database(
        settings.database_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        migrate=settings.auto_migrate,
        db=db,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    keyring = settings.keyring() or _development_keyring(db, clock)
    codec = TokenCodec(keyring, lifetime_days=settings.token_lifetime_days)
    hosts = TrackingHosts(db, settings.public_url, settings.tracking_base_domain)
    # The redirect path writes to the journal, never to the central database (DESIGN.md,
    # invariant 4); the shipper moves the hits on. Both only touch the disk once started.
    journal = Journal(
        journal_path(settings.journal_dir, settings.port),
        synchronous=settings.sqlite_synchronous,
    )
    writer = ObservationWriter(journal.db, sql=journal.insert_sql, tidy=journal.tidy)
    links = LinkCache(db)
    shipper = Shipper(journal, db, writer, cap=settings.journal_cap, before_each_pass=links.persist)
    return Services(
        settings=settings,
        db=db,
        codec=codec,
        instrumenter=Instrumenter(
            codec, settings.public_url, hosts, bounce_domain=settings.bounce_domain
        ),
        clock=clock,
        writer=writer,
        shipper=shipper,
        links=links,
        hosts=hosts,
        cnames=CnameResolver(settings.dns_resolvers, timeout=settings.dns_timeout_seconds),
    )


def build_workers(
    services: Services, only: Collection[str] = WORKER_NAMES, *, promoter_nice: int = 0
) -> dict[str, Worker]:
    """The background workers by name (``only`` these), each bound to what it uses;
    ``promoter_nice``: added to the promoter thread's priority (beside the redirect)."""
    settings = services.settings
    db, clock = services.db, services.clock
    workers: dict[str, Worker] = {}
    if "outbound" in only:
        workers["outbound"] = functools.partial(
            outbound_worker,
            db,
            clock,
            settings.upstream,
            settings.outbound_concurrency,
            lease=timedelta(seconds=settings.lease_seconds),
        )
    if "promoter" in only:
        workers["promoter"] = functools.partial(
            promoter_worker, db, clock, settings.settle_seconds, nice=promoter_nice
        )
    if "dispatcher" in only:
        workers["dispatcher"] = functools.partial(dispatcher_worker, build_dispatcher(services))
    if "domains" in only:
        workers["domains"] = functools.partial(domains_worker, build_domain_checker(services))
    if "retention" in only:
        retention = Retention(db, clock, RetentionPolicy.from_settings(settings))
        workers["retention"] = functools.partial(retention_worker, retention)
    return workers


def build_dispatcher(services: Services, *, guard: AddressGuard | None = None) -> Dispatcher:
    settings = services.settings
    return Dispatcher(
        services.db,
        services.clock,
        guard or AddressGuard(allow_private=settings.webhook_allow_private_networks),
        timeout=settings.webhook_timeout_seconds,
        per_endpoint=settings.webhook_concurrency_per_endpoint,
        lease=timedelta(seconds=settings.lease_seconds),
    )


def build_domain_checker(services: Services) -> DomainChecker:
    policy = DomainPolicy.from_settings(services.settings)
    return DomainChecker(services.db, services.clock, services.cnames, services.hosts, policy)


def _development_keyring(db: Database, clock: Clock) -> Keyring:
    """Development only: a signing key made once and kept in the database, so that links
    keep working across restarts of `make run`."""
    with db.write() as conn:
        secret = instance_secrets.get_or_create(
            conn, "development_signing_key", lambda: secrets.token_urlsafe(32), clock.now()
        )
    return Keyring.parse(f"0:{secret}", setting="MAILBEACON_SIGNING_KEYS")


def create_api(services: Services) -> FastAPI:
    from .web import health, tracking_domains, unsubscribe
    from .web.dashboard import create_dashboard
    from .web.lettermint import analytics, stats, webhooks
    from .web.lettermint import send as lettermint_send
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
    api.state.database_errors = 0  # API requests that found the database away (/metrics)
    install_error_handlers(api)
    api.add_middleware(RequestLimits, max_body=services.settings.max_request_bytes)
    api.include_router(health.router)
    api.include_router(lettermint_send.router, prefix="/v1")
    api.include_router(lettermint_team.router, prefix="/v1")
    api.include_router(stats.router, prefix="/v1")
    api.include_router(analytics.router, prefix="/v1")
    api.include_router(webhooks.router, prefix="/v1")
    api.include_router(tracking_domains.router, prefix="/v1")
    api.include_router(tracking_domains.tls_router)
    api.include_router(unsubscribe.router)
    api.include_router(lettr.router, prefix="/api")
    api.mount("/dashboard", create_dashboard(services))

    @api.get("/", include_in_schema=False)
    @api.get("/dashboard", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    return api


class MailbeaconApp:
    """The RSGI application: tracking paths raw, the rest through FastAPI. With a ``relay``,
    it also runs the SMTP relay on the same event loop."""

    def __init__(
        self,
        services: Services,
        *,
        workers: Mapping[str, Worker] | None = None,
        relay: SmtpRelay | None = None,
        gc_tuning: GcTuning | None = None,
    ) -> None:
        self.services = services
        self.workers = dict(workers or {})
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
            shipper=services.shipper,
        )
        self.api.state.tracking = self.tracking  # its counters, for /metrics
        # links changed after sending reach this process's cache through it
        self.link_feed = LinkFeed(services.db, services.links)
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
        shipper = self.services.shipper
        shipper.start()  # opens the journal: what a previous run left is shipped first
        self.services.links.back_with(shipper.journal)
        self.services.writer.start(asyncio.get_running_loop())
        if self.relay is not None:
            await self.relay.start()
            log.info("SMTP relay listening on %s", self.relay.describe())
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(worker(self._stop), name=name)
            for name, worker in self.workers.items()
        ]
        self._tasks.append(asyncio.create_task(self.link_feed.run(self._stop), name="link_feed"))
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
        self.services.shipper.stop()  # after the writer: its last hits are shipped too


def create_app(
    services: Services,
    *,
    workers: Mapping[str, Worker] | None = None,
    relay: SmtpRelay | None = None,
    gc_tuning: GcTuning | None = None,
) -> MailbeaconApp:
    return MailbeaconApp(services, workers=workers, relay=relay, gc_tuning=gc_tuning)


SWITCH_INTERVAL = 0.0005  # seconds: `mailbeacon serve`'s GIL switch interval (see below)


def app_from_environment() -> MailbeaconApp:
    """Granian's factory for ``mailbeacon serve``: settings from the environment (which the
    serve command has completed from its flags)."""
    import os

    from .config import load_settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    die_with_serve()  # granian's worker of `mailbeacon serve` must not outlive it
    services = build_services(load_settings(os.environ))
    # The workers' threads (the shipper, the webhook dispatcher's, the promoter's where it
    # runs in-process) share the interpreter with the event loop that answers clicks: CPython
    # hands the GIL to a waiting thread only after the switch interval, 5 ms by default,
    # which a click waiting behind a promotion pass paid (bench/redirect: p99 with the
    # promoter working, when it was a thread here). A tenth of it bounds that wait.
    sys.setswitchinterval(SWITCH_INTERVAL)
    relay = None
    if services.settings.smtp_port:
        from .smtp.relay import SmtpRelay

        relay = SmtpRelay(services)
    if os.environ.get(PROMOTER_CHILD_VARIABLE):  # serve runs it in a child (supervisor.py)
        workers = build_workers(services, [name for name in WORKER_NAMES if name != "promoter"])
    else:
        workers = build_workers(services, promoter_nice=BACKGROUND_NICE)
    return create_app(services, workers=workers, relay=relay, gc_tuning=GcTuning())
