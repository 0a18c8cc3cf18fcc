"""SQLite WAL checkpoints off the redirect path.

SQLite moves the write-ahead log into the database file (a checkpoint) inside the commit that
pushes the log past ``wal_autocheckpoint`` pages, and a checkpoint ends with an fsync. On the
observation writer's connection that commit is what clicks wait for, so one click in every
few thousand waited tens of milliseconds for the disk. The writer's connection therefore
checkpoints never; this thread does, on its own connection, a second after the writer says it
wrote something. A PASSIVE checkpoint takes no lock a writer needs (writers go on appending to
the log meanwhile), so commits never wait for the disk.

But SQLite starts the log over only when a writer finds every frame of it checkpointed, and
under a steady stream of clicks a commit always lands while a checkpoint runs: the log grew to
218 MB in 430,000 clicks. So once it holds more than ``restart_frames``, the PASSIVE checkpoint
(which did the bulk of the copying without blocking anyone) is followed by a TRUNCATE one,
which holds writers off while it copies the frames since and empties the file. Clicks
meanwhile go to the observation writer's thread and wait for it: tens of milliseconds. With a
16 MiB limit that came every few seconds at 23,000 clicks/s and the redirect's p99 went from
5 to 37 ms; 256 MiB makes it once in ~45 s of such a load, past the p99. A log restarts on its
own whenever a checkpoint runs with no commit under way, so at ordinary rates this never
fires.
"""

from __future__ import annotations

import logging
import threading

from .db import Database

__all__ = ["WalCheckpointer"]

log = logging.getLogger(__name__)


class WalCheckpointer:
    """A thread that runs ``PRAGMA wal_checkpoint(PASSIVE)`` at most every ``interval``
    seconds, when :meth:`wrote` was called since the last one."""

    def __init__(self, db: Database, interval: float = 1.0, restart_frames: int = 65536) -> None:
        self._db = db
        self._interval = interval
        self._restart_frames = restart_frames  # 65536 pages of 4 KiB: a 256 MiB log
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # for tests
        self.truncations = 0

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        self._dirty.set()

    def stop(self) -> None:
        """Stop, after a last checkpoint if anything was written since the previous one."""
        if self._thread is not None:
            self._stopping.set()
            self._dirty.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            self.checkpoint()
            if self._stopping.wait(self._interval):  # writes meanwhile join the next one
                if self._dirty.is_set():
                    self.checkpoint()
                return

    def checkpoint(self) -> None:
        try:
            with self._db.read() as conn:
                _, frames, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
                if frames > self._restart_frames:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    self.truncations += 1
            self.checkpoints += 1
        except Exception:  # the next write's checkpoint catches up; nothing is lost meanwhile
            log.exception("WAL checkpoint failed")
