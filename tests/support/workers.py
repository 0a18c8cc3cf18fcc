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


def promote(services: Services) -> int:
    """One promoter pass over the settled observations; how many were promoted."""
    return promote_settled(services.db, services.clock, services.settings.settle_seconds)
