"""Garbage collection tuned for the redirect path's latency.

CPython's cyclic collector walks every tracked object in a full (generation 2) collection.
After start-up, ``mailbeacon serve`` holds more than a million of them (FastAPI's and
pydantic's models, SQLAlchemy, the classifier's tables), and a full collection took 110-140 ms
under the redirect benchmark, several times a minute: every click in flight waited for it, and
the p99 was 120 ms. None of those objects ever become garbage.

So the objects alive after start-up are frozen (``gc.freeze``: moved where no collection looks),
and so is whatever survives a full collection, since it is long-lived too: full collections
then walk only what came since, a few milliseconds. Freezing forever would leak any long-lived
object that later becomes cyclic garbage (a closed HTTP client, an ended SMTP session), so at
most every :data:`THAW_SECONDS` the frozen objects are handed back, and the next full
collection, which then comes later and takes longer, sees everything once.
"""

from __future__ import annotations

import gc
import time
from typing import Any

__all__ = ["THAW_SECONDS", "GcTuning"]

THAW_SECONDS = 900.0


class GcTuning:
    def __init__(self, thaw_seconds: float = THAW_SECONDS) -> None:
        self.thaw_seconds = thaw_seconds
        self._thawed_at = time.monotonic()
        self.installed = False

    def install(self) -> None:
        """Freeze what start-up made, and what every full collection leaves, from now on."""
        if not self.installed:
            gc.freeze()
            gc.callbacks.append(self._after_collection)
            self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            gc.callbacks.remove(self._after_collection)
            gc.unfreeze()
            self.installed = False

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        now = time.monotonic()
        if now - self._thawed_at >= self.thaw_seconds:
            gc.unfreeze()  # the next full collection sees everything once
            self._thawed_at = now
        else:
            gc.freeze()
