"""One pass of a worker, with the collaborators the composition root (app.py) would give it."""

from __future__ import annotations

from mailbeacon.service.context import Services
from mailbeacon.smtp.upstream import Sender
from mailbeacon.workers.outbound import deliver_due
from mailbeacon.workers.promoter import promote_settled


async def deliver(services: Services, sender: Sender, *, limit: int | None = None) -> int:
    """One pass of the outbound queue; how many copies were attempted."""
    return await deliver_due(
        services.db,
        services.clock,
        sender,
        concurrency=services.settings.outbound_concurrency,
        limit=limit,
    )


def ship(services: Services) -> int:
    """Move what the server's hit journal holds to the database now (the shipper's thread
    would within a tenth of a second); how many hits."""
    if services.shipper.journal.source == 0:  # no server started: nothing journalled
        return 0
    return services.shipper.ship_now()


def promote(services: Services) -> int:
    """One promoter pass over the settled observations (after shipping the journal); how many
    were promoted."""
    ship(services)
    return promote_settled(services.db, services.clock, services.settings.settle_seconds)
