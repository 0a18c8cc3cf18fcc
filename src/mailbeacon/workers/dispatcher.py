"""The webhook dispatcher: the outbox to the receivers, signed, retried, logged.

A pass claims due deliveries (store/webhook_deliveries.py), POSTs each with both signatures
(core/webhooks/delivery.py) through its endpoint's aiohttp session (connections are kept alive and
reused; a session idle for five minutes is closed), and records each attempt as it completes
(group-committed with the others that complete meanwhile). Per endpoint (webhook) at most
MAILBEACON_WEBHOOK_CONCURRENCY_PER_ENDPOINT requests are in flight, in this process and in
the whole deployment: a claim takes no more of an endpoint's deliveries than that many minus
those other dispatchers hold (store/webhook_deliveries.py counts the leases under a lock of
the webhook's row), and every delivery claimed is sent at once. A slow receiver ties up its
own share, never the outbox. The worker runs up to
:data:`PARALLEL_PASSES` passes at once for the same reason, and claims the next pass while
others are still delivering as long as due deliveries were left behind for lack of room in a
pass (:meth:`Dispatcher.may_claim_more`): the claims and records of one pass, in a thread,
overlap the requests of others. A worker's pass also claims, in each transaction that records
its outcomes, as many due deliveries as it records, under the same limits (the deployment's
included), and sends them too: with the endpoint's share of the deployment leased, a slot a
recorded attempt gives back is taken again at once, not after the pass ends and another
claim runs (1,272 deliveries/s against a target of 2,000 when each pass waited for the next
claim; bench/webhooks).

Each attempt has a deadline (MAILBEACON_WEBHOOK_TIMEOUT_SECONDS, connection included). A
claim's lease is short (a minute) and renewed while its deliveries wait for their endpoint
or are in flight (workers/leases.py): a crashed dispatcher's deliveries resume within a
minute, a live one's are never taken over.
Redirects are never followed; a response's first :data:`RESPONSE_BYTES` are kept, as
received (nothing is decompressed, and ``Accept-Encoding: identity`` asks for nothing to be
compressed). No cookies are kept and no proxy is taken from the environment. Addresses are
checked at every connection (service/webhook_guard.py).

``mailbeacon serve`` runs the worker beside the HTTP server and ``mailbeacon worker`` runs it
alone; several of either share the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

import aiohttp

from ..clock import Clock
from ..core.errors import AddressRefused
from ..core.webhooks.delivery import RESPONSE_BYTES, Reply, decide, delivery_headers, retry_after
from ..service.webhook_guard import AddressGuard, guarded_connector
from ..store import webhook_deliveries as outbox
from ..store.db import Database
from . import pause
from .leases import LEASE, Leases, renewal_interval

__all__ = ["Dispatcher", "dispatcher_worker"]

log = logging.getLogger(__name__)

BATCH = 256  # deliveries claimed per pass
PASS_ROUNDS = 5  # per pass, per endpoint: this many times its concurrency
ROUNDS = 20  # in flight, per endpoint, across passes: this many times its concurrency
PARALLEL_PASSES = 4
IDLE_SECONDS = 0.2
# While passes run, they claim in place of what they record (Dispatcher.deliver); the worker's
# own claim only adds what they leave (a pass that may grow, an endpoint newly due), and each
# reads the outbox's head (SCAN x BATCH rows, ~10 ms of a thread that shares the GIL with
# the requests): five a second took ~6% of the bench's samples for a row or two each.
BUSY_IDLE_SECONDS = 1.0
DRAIN_BYTES = 64 * 1024  # read this much of an answer so the connection can be reused
HEADERS_KEPT = 32
IDLE_ENDPOINT_SECONDS = 300.0  # an endpoint with nothing to send this long: its session closes
# An idle connection is closed sooner than the 5 s many servers keep one open (uvicorn, Node),
# so that a delivery is rarely written to a connection the receiver is closing.
KEEPALIVE_SECONDS = 4.0
try:
    USER_AGENT = f"mailbeacon-webhooks/{metadata.version('mailbeacon')}"
except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without metadata
    USER_AGENT = "mailbeacon-webhooks"


@dataclass
class _Endpoint:
    gate: asyncio.Semaphore  # its concurrency
    session: aiohttp.ClientSession  # its connections, kept alive
    used: float = 0.0


class Dispatcher:
    """Holds what passes share: each endpoint's gate, session and load."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        guard: AddressGuard,
        *,
        timeout: float,  # MAILBEACON_WEBHOOK_TIMEOUT_SECONDS
        per_endpoint: int,  # MAILBEACON_WEBHOOK_CONCURRENCY_PER_ENDPOINT
        lease: timedelta = LEASE,  # MAILBEACON_LEASE_SECONDS
        renew_every: float | None = None,  # default: a third of the lease, at most RENEW_EVERY
    ) -> None:
        self.db = db
        self.clock = clock
        self.timeout = timeout
        self.per_endpoint = per_endpoint
        self.guard = guard
        self._ssl = ssl.create_default_context()  # one for all endpoints: it loads the CAs
        self._endpoints: dict[int, _Endpoint] = {}
        self._in_flight: Counter[int] = Counter()
        self._lease = lease
        self._renew_every = renew_every if renew_every is not None else renewal_interval(lease)
        self._leases: dict[int, datetime] = {}  # each claimed delivery's lease, by id

    async def aclose(self) -> None:
        endpoints, self._endpoints = self._endpoints, {}
        for endpoint in endpoints.values():
            await endpoint.session.close()

    def _endpoint(self, webhook_id: int) -> _Endpoint:
        """The endpoint's gate and HTTP session (with its own pool of connections)."""
        endpoint = self._endpoints.get(webhook_id)
        if endpoint is None:
            connector = guarded_connector(
                self.guard,
                limit=self.per_endpoint,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ssl_context=self._ssl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers={"Accept-Encoding": "identity"},  # the log keeps what it receives
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies never come back
                timeout=aiohttp.ClientTimeout(total=None),  # _post's deadline covers it all
                auto_decompress=False,
                trust_env=False,  # no proxy from the environment: the guard sees every peer
            )
            endpoint = _Endpoint(asyncio.Semaphore(self.per_endpoint), session)
            self._endpoints[webhook_id] = endpoint
        endpoint.used = time.monotonic()
        return endpoint

    async def _close_idle(self) -> None:
        """Close the sessions of endpoints that had nothing to deliver for a while."""
        cutoff = time.monotonic() - IDLE_ENDPOINT_SECONDS
        for webhook_id in list(self._endpoints):
            endpoint = self._endpoints.get(webhook_id)  # checked anew after each await
            if endpoint is not None and endpoint.used < cutoff and not self._in_flight[webhook_id]:
                del self._endpoints[webhook_id]
                await endpoint.session.close()

    def lease(self) -> timedelta:
        """How long a claim holds its deliveries before it is renewed (or runs out)."""
        return self._lease

    def _room(self, webhook_id: int) -> int:
        return min(
            self.per_endpoint * PASS_ROUNDS,
            self.per_endpoint * ROUNDS - self._in_flight[webhook_id],
        )

    async def claim(self, limit: int = BATCH) -> list[outbox.Due]:
        now = self.clock.now()
        db = self.db

        def claim() -> list[outbox.Due]:
            with db.write() as conn:
                return outbox.claim_due(
                    conn,
                    now,
                    now + self.lease(),
                    limit,
                    room=self._room,
                    skip_locked=not db.is_sqlite,
                    per_webhook=self.per_endpoint,  # for the whole deployment
                )

        batch = await asyncio.to_thread(claim)
        self._in_flight.update(item.webhook_id for item in batch)
        self._leases.update((item.id, now + self.lease()) for item in batch)
        return batch

    def may_claim_more(self, batch: list[outbox.Due], limit: int = BATCH) -> bool:
        """Whether a claim that just returned ``batch`` may have left due deliveries behind
        that could start now: it took its limit, or an endpoint's share of a pass while that
        endpoint can take more in flight. Otherwise nothing more is due, or its endpoints
        are busy, and the worker waits."""
        if len(batch) >= limit:
            return True
        share = self.per_endpoint * PASS_ROUNDS
        taken = Counter(item.webhook_id for item in batch)
        return any(n >= share and self._room(webhook_id) > 0 for webhook_id, n in taken.items())

    async def deliver(
        self, batch: list[outbox.Due], *, refill_until: asyncio.Event | None = None
    ) -> int:
        """Attempt every claimed delivery, recording each outcome as it comes; how many.

        Outcomes are group-committed: the first is written at once, and those that complete
        while a write runs go together in the next. A pass's slow endpoint no longer holds
        back the records of its fast ones, and a crash mid-pass sends again only the
        deliveries whose outcome was not yet written (at most one transaction's worth beyond
        those still in flight), not the whole pass.

        With ``refill_until`` (the worker's passes), until that event is set, each write also
        claims as many due deliveries as it records, in the same transaction and under the
        same limits as a claim (store/webhook_deliveries.py ``record_and_claim``), and the
        pass sends them too: the slot a recorded attempt gives back is taken again without a
        claim of its own, where it used to stay empty until the whole pass had ended and the
        next claim ran. The pass ends once a write claims nothing and all it took is
        recorded."""
        held = {item.id: self._leases.pop(item.id) for item in batch}

        def renew(ids: Sequence[int], lease: datetime, until: datetime) -> set[int]:
            with self.db.write() as conn:
                return outbox.renew_leases(conn, ids, lease, until)

        attempts: dict[asyncio.Future[outbox.Outcome], outbox.Due] = {
            asyncio.ensure_future(self._attempt(item)): item for item in batch
        }
        taken = len(batch)
        try:
            async with Leases(
                self.clock, renew, held, length=self._lease, every=self._renew_every
            ) as leases:
                waiting: list[outbox.Outcome] = []
                writing: asyncio.Future[list[outbox.Due]] | None = None
                while attempts or waiting or writing is not None:
                    if writing is None and waiting:
                        refill = refill_until is not None and not refill_until.is_set()
                        writing = asyncio.ensure_future(self._write(leases, waiting, refill))
                        waiting = []
                    running: set[asyncio.Future[Any]] = set(attempts)
                    if writing is not None:
                        running.add(writing)
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for future in done:
                        if future is writing:
                            more: list[outbox.Due] = future.result()  # raises what it raised
                            writing = None
                            taken += len(more)
                            self._in_flight.update(item.webhook_id for item in more)
                            attempts.update(
                                (asyncio.ensure_future(self._attempt(item)), item) for item in more
                            )
                            continue
                        item = attempts.pop(future)
                        self._in_flight[item.webhook_id] -= 1
                        outcome: outbox.Outcome = future.result()
                        await leases.release(outcome.delivery_id)  # no renewal after its record
                        waiting.append(outcome)
        finally:
            for attempt, item in attempts.items():
                attempt.cancel()  # only if a write failed: the rest are retried by lease
                self._in_flight[item.webhook_id] -= 1
            self._in_flight += Counter()  # drop the endpoints with nothing in flight
        await self._close_idle()
        return taken

    async def _write(
        self, leases: Leases, outcomes: list[outbox.Outcome], refill: bool
    ) -> list[outbox.Due]:
        """Record ``outcomes``; with ``refill``, claim as many in their place (joining the
        pass's leases); what was claimed."""
        if not refill:
            await asyncio.to_thread(self._record, outcomes, None)
            return []
        claimed: list[outbox.Due] = []

        async def take(lease: datetime | None) -> list[int]:
            nonlocal claimed
            claimed = await asyncio.to_thread(self._record, outcomes, lease)
            return [item.id for item in claimed]

        await leases.take_more(take)
        return claimed

    def _record(self, outcomes: list[outbox.Outcome], lease: datetime | None) -> list[outbox.Due]:
        now = self.clock.now()
        with self.db.write() as conn:
            if lease is None:
                outbox.record(conn, outcomes, now)
                return []
            return outbox.record_and_claim(
                conn,
                outcomes,
                now,
                lease,
                len(outcomes),
                room=self._room,
                skip_locked=not self.db.is_sqlite,
                per_webhook=self.per_endpoint,  # for the whole deployment, as a claim
            )

    async def run_once(self, *, limit: int = BATCH) -> int:
        """One pass (what tests and tools call): how many deliveries were attempted."""
        batch = await self.claim(limit)
        return await self.deliver(batch) if batch else 0

    async def _attempt(self, item: outbox.Due) -> outbox.Outcome:
        endpoint = self._endpoint(item.webhook_id)
        async with endpoint.gate:
            at = self.clock.now()
            number = item.attempts_made + 1
            headers = delivery_headers(
                secret=item.secret,
                delivery_id=item.public_id,
                event=item.event_type,
                attempt=number,
                timestamp=int(at.timestamp()),
                body=item.body,
                basic_auth=item.basic_auth,
                user_agent=USER_AGENT,
            )
            started = time.perf_counter()
            reply, body, kept = await self._post(endpoint.session, item, headers, at)
            duration = round((time.perf_counter() - started) * 1000)
        return outbox.Outcome(
            delivery_id=item.id,
            webhook_id=item.webhook_id,
            attempt_number=number,
            at=at,
            decision=decide(reply, number),
            http_status_code=reply.status_code,
            duration_ms=duration,
            response_body=body,
            response_headers=kept,
        )

    async def _post(
        self,
        session: aiohttp.ClientSession,
        item: outbox.Due,
        headers: dict[str, str],
        at: datetime,
    ) -> tuple[Reply, str | None, list[str] | None]:
        try:
            async with (
                asyncio.timeout(self.timeout),
                session.post(
                    item.url, data=item.body, headers=headers, allow_redirects=False
                ) as answer,
            ):
                body = await _first_bytes(answer)
        except TimeoutError:  # aiohttp's own timeouts are TimeoutErrors too
            error = f"No answer within {self.timeout:g} s."
            return Reply(timed_out=True, error=error), None, None
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error
            if isinstance(refused, AddressRefused):  # the guard's reason says it all
                return Reply(error=refused.strerror), None, None
            return Reply(error=f"{type(exc).__name__}: {exc}"), None, None
        except aiohttp.ClientError as exc:
            return Reply(error=f"{type(exc).__name__}: {exc}"), None, None
        except Exception as exc:  # a bug here must not lose the delivery: it is retried
            log.exception("webhook delivery %s failed", item.public_id)
            return Reply(error=f"{type(exc).__name__}: {exc}"), None, None
        code = answer.status
        found = answer.headers
        waited = retry_after(found.get("Retry-After"), at)
        reply = Reply(status_code=code, retry_after=waited, location=found.get("Location"))
        kept = [f"{name.lower()}: {value}" for name, value in found.items()][:HEADERS_KEPT]
        return reply, body.decode("utf-8", "replace"), kept


async def _first_bytes(answer: aiohttp.ClientResponse) -> bytes:
    """The answer's first :data:`RESPONSE_BYTES`, reading on (to :data:`DRAIN_BYTES`) so that
    the connection can serve the next request; a longer answer closes it (aiohttp closes a
    connection released with its body unread)."""
    kept = bytearray()
    seen = 0
    while seen <= DRAIN_BYTES:
        chunk = await answer.content.readany()
        if not chunk:
            break
        if len(kept) < RESPONSE_BYTES:
            kept += chunk[: RESPONSE_BYTES - len(kept)]
        seen += len(chunk)
    return bytes(kept)


async def dispatcher_worker(dispatcher: Dispatcher, stop: asyncio.Event) -> None:
    running: set[asyncio.Task[int]] = set()
    try:
        while not stop.is_set():
            if len(running) >= PARALLEL_PASSES:
                await _idle(stop, running, IDLE_SECONDS)
                continue
            try:
                batch = await dispatcher.claim()
            except Exception:
                log.exception("claiming webhook deliveries failed; retrying")
                batch = []
            if batch:
                task = asyncio.create_task(dispatcher.deliver(batch, refill_until=stop))
                running.add(task)
                task.add_done_callback(_finished(running))
            if not dispatcher.may_claim_more(batch):
                await _idle(stop, running, BUSY_IDLE_SECONDS if running else IDLE_SECONDS)
    finally:
        if running:
            await asyncio.wait(running, timeout=dispatcher.timeout + 5)
        await dispatcher.aclose()


def _finished(running: set[asyncio.Task[int]]) -> Callable[[asyncio.Task[int]], None]:
    def done(task: asyncio.Task[int]) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook pass failed; its deliveries are retried", exc_info=task.exception())

    return done


async def _idle(stop: asyncio.Event, running: set[asyncio.Task[int]], seconds: float) -> None:
    """Wait until a pass ends (its endpoints have room again), the worker is told to stop,
    or ``seconds`` pass."""
    if not running:
        await pause(stop, seconds)
        return
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {stopping, *running}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopping
