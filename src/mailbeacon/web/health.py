"""``/healthz``, ``/readyz`` and ``/metrics``: what a load balancer and Prometheus ask.

- ``GET /healthz``: the process answers (200). Nothing else is checked: a restart would not
  cure a database outage, so liveness never depends on it.
- ``GET /readyz``: 200 when the central database answers and the hit journal is below its cap;
  otherwise 503 with the reason, so a balancer sends clicks elsewhere while this process can
  keep nothing more. (Clicks are still answered here: readiness is advice.)
- ``GET /metrics``: the Prometheus text format (prometheus-client). The counters are the
  process's own, read at scrape time from the objects that keep them (the tracking endpoints,
  the journal's writer and shipper), so the redirect path pays nothing for being measured;
  the queue depths and the promoter's lag are read from the central database, the same for
  the whole deployment whichever process answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..service.context import Services
from ..store import health
from ..store.db import is_unavailable

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    shipper = services.shipper
    problems = []
    try:
        with services.db.read() as conn:
            health.ping(conn)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        problems.append("database_unavailable")
    if shipper.full:
        problems.append("journal_full")
    body = {
        "status": "not_ready" if problems else "ready",
        "problems": problems,
        "journal": {"depth": shipper.depth, "cap": shipper.cap},
    }
    return JSONResponse(body, status_code=503 if problems else 200)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(request.app.state.services, request.app.state))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _Collector(Collector):
    def __init__(self, services: Services, state: Any) -> None:
        self._services = services
        self._state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        services, state = self._services, self._state
        tracking = getattr(state, "tracking", None)
        shipper, writer = services.shipper, services.writer
        if tracking is not None:
            yield _counter("hits_answered", "hits answered (302 or pixel)", tracking.answered)
            yield _counter(
                "hits_unkept",
                "hits answered but not journalled (journal full or failing)",
                tracking.lost,
            )
            yield _counter(
                "hits_unavailable",
                "clicks answered 503: link unknown here while the database was away",
                tracking.unavailable,
            )
        yield _counter("hits_journalled", "hits made durable in the local journal", writer.written)
        yield _counter(
            "hits_shipped", "hits moved from the journal to the database", shipper.shipped
        )
        yield _gauge("journal_depth", "hits in the local journal, not yet shipped", shipper.depth)
        yield _gauge(
            "journal_cap", "hits the journal may hold (MAILBEACON_JOURNAL_CAP)", shipper.cap
        )
        database_errors = shipper.failures + int(getattr(state, "database_errors", 0))
        yield _counter(
            "database_errors",
            "failed attempts to reach the central database (shipping, API requests)",
            database_errors,
        )
        try:
            with services.db.read() as conn:
                oldest = health.oldest_unpromoted_us(conn)
                outbound = health.outbound_depth(conn)
                webhooks = health.webhook_depth(conn)
                by_status = health.deliveries_by_status(conn)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            yield _gauge("database_up", "whether the central database answered", 0)
            return
        yield _gauge("database_up", "whether the central database answered", 1)
        lag = 0.0 if oldest is None else max(0.0, (services.clock.now_us() - oldest) / 1e6)
        yield _gauge(
            "promoter_lag_seconds", "age of the oldest hit not yet promoted to an event", lag
        )
        yield _gauge("outbound_queue_depth", "recipient copies waiting for the upstream", outbound)
        yield _gauge("webhook_queue_depth", "webhook deliveries still to make", webhooks)
        family = GaugeMetricFamily(
            "mailbeacon_webhook_deliveries",
            "webhook deliveries by their latest outcome",
            labels=["outcome"],
        )
        for status, count in sorted(by_status.items()):
            family.add_metric([status], count)
        yield family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"mailbeacon_{name}", documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"mailbeacon_{name}", documentation, value=value)
