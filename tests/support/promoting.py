"""A promoter in a process of its own, for tests of several promoters at once.

``python -m tests.support.promoting DATABASE_URL STOP_FILE`` runs small promotion passes
(a few observations each, so that passes of two processes interleave over the same copies)
on the system clock with no settle window, until STOP_FILE exists.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mailbeacon.clock import SystemClock
from mailbeacon.store.db import Database
from mailbeacon.workers.promoter import Promoter

PASS = 7  # observations a pass


def main(url: str, stop: Path) -> None:
    db = Database(url)
    promoter = Promoter(db, SystemClock(), 0)
    try:
        while not stop.exists():
            if promoter.run_once(limit=PASS) == 0:
                time.sleep(0.002)
    finally:
        db.dispose()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
