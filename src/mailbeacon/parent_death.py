"""A worker process that dies with its parent, however the parent dies.

`mailbeacon serve` runs the application in a granian worker process. When the serve process
is stopped politely, granian stops its worker; on ``kill -9`` it cannot, and the orphaned
worker went on answering HTTP, running the background workers and holding the ports, so a
restart failed with "Address already in use". Linux delivers a chosen signal to a process
when its parent dies (``prctl(PR_SET_PDEATHSIG)``): the worker asks for SIGKILL, so nothing
outlives the pid an operator knows. Every hit it answered is already durable in its journal
(store/journal.py), which the next start ships. ctypes, because the standard library has no
prctl and a dependency for one call would be more to trust than these lines.

Other systems have no such call: there the worker only checks at start that its parent is
the one that launched it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

__all__ = ["PARENT_VARIABLE", "die_with_parent", "die_with_serve"]

log = logging.getLogger(__name__)

PARENT_VARIABLE = "MAILBEACON_SERVE_PID"  # set by `mailbeacon serve` for its children
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(expected_parent: int) -> bool:
    """Ask to be killed when the parent dies; False when the system cannot. If the parent
    is already gone (it died before the request was made), exit now."""
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            armed = True
        else:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != expected_parent:  # the parent died before prctl: adopted already
        log.error("the serve process %d is gone: exiting", expected_parent)
        os._exit(1)
    return armed


def die_with_serve() -> None:
    """In a child of `mailbeacon serve` (granian's worker, the promoter: serve sets
    :data:`PARENT_VARIABLE` for them), die with serve; elsewhere nothing."""
    parent = os.environ.get(PARENT_VARIABLE)
    if parent:
        die_with_parent(int(parent))
