"""Background work: the outbound mail queue, the promoter, the webhook dispatcher and the
custom tracking domains' DNS checks.

Each worker is a coroutine ``worker(services, stop)`` that runs until ``stop`` is set; `serve`
runs them beside the HTTP server, `mailbeacon worker` runs them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import Worker
    from ..config import Settings

__all__ = ["default_workers", "pause"]


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for ``seconds``, or less if the worker is told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def default_workers(settings: Settings) -> list[Worker]:
    from .dispatcher import dispatcher_worker
    from .domains import domains_worker
    from .outbound import outbound_worker
    from .promoter import promoter_worker

    return [outbound_worker, promoter_worker, dispatcher_worker, domains_worker]
