"""Background work: the outbound mail queue, the promoter, the webhook dispatcher, the
custom tracking domains' DNS checks, and the data lifecycle (retention, deleted projects).

Each worker is a coroutine function that runs until its ``stop`` event is set, given only the
collaborators it uses: the composition root (app.py, ``build_workers``) binds them. `serve`
runs the workers beside the HTTP server, `mailbeacon worker` runs them alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["WORKER_NAMES", "Worker", "pause"]

# A background task run for the server's lifetime, its collaborators bound: stop -> coroutine.
Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

WORKER_NAMES = ("outbound", "promoter", "dispatcher", "domains", "retention")


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep for ``seconds``, or less if the worker is told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
