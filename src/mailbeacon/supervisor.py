"""A child process of `mailbeacon serve`, kept running for as long as serve runs.

`mailbeacon serve` runs the promoter this way (cli/serve.py): ``mailbeacon worker --only
promoter`` in a process of its own, at a lower scheduling priority. In a thread of the process
that answers clicks it shared that process's GIL and its garbage collector with the event
loop: a click waited whenever the promoter held the GIL (up to the 0.5 ms switch interval, or
longer inside a C call) or a collection of the promoter's young objects ran. bench/redirect,
the whole job, the same day, runs alternating: the redirect's p99 while the promoter worked was
9.0-12.0 ms as a thread (median 10.1 of eight runs), 6.3-10.1 ms in a process of its own
(median 9.1 of eight; 6.3-7.0 in seven once the journal's deletes left the shipper,
store/journal.py). The kernel shares the core by priority alone, which is what "the promoter
has every cycle the redirect leaves" meant all along.

The child dies with serve however serve dies: it asks the kernel for that itself
(parent_death.py, through :data:`~mailbeacon.parent_death.PARENT_VARIABLE`, which serve sets).
That request names the *thread* that started the child, so :meth:`ChildProcess.start` and
every restart run on one thread that lives until :meth:`ChildProcess.stop` has stopped the
child. A child that dies on its own (a crash, the OOM killer) is started again after a pause
that doubles from 1 s to a minute while it keeps dying young; a child that exits 0 was asked
to stop (SIGTERM, or the terminal's Ctrl-C, which reaches the whole process group) and is not
restarted. Nothing is lost while it is down: the hits wait, durable, in the promoter's queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

__all__ = ["BACKGROUND_NICE", "PROMOTER_CHILD_VARIABLE", "ChildProcess"]

log = logging.getLogger(__name__)

# Added to the nice value of work that must leave the core to the redirect: the promoter's
# process here, its thread where it shares a process with the redirect (workers/promoter.py).
BACKGROUND_NICE = 10
# Set by serve for granian's worker: the promoter runs in a child, not in a thread there.
PROMOTER_CHILD_VARIABLE = "MAILBEACON_PROMOTER_CHILD"
FIRST_PAUSE, LONGEST_PAUSE = 1.0, 60.0  # seconds before a restart, doubling while it dies young
YOUNG = 60.0  # seconds: a child that ran longer than this starts the pauses over
STOP_SECONDS = 30.0  # how long a child may take to stop after SIGTERM before SIGKILL


class ChildProcess:
    """One supervised child: ``command`` run with ``env``, ``nice`` added to its priority."""

    def __init__(
        self, name: str, command: Sequence[str], env: Mapping[str, str], *, nice: int = 0
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = dict(env)
        self._nice = nice
        self._stopping = threading.Event()
        self._started = threading.Event()
        # held while a child is spawned, and by stop(): a child is never spawned after stop()
        # has looked for the one to end
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    def start(self) -> None:
        """Start the child and its watcher; returns once the child is started."""
        self._thread = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self._thread.start()
        self._started.wait()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_SECONDS`; waits for the watcher."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %g s: killed", self.name, STOP_SECONDS)
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        pause = FIRST_PAUSE
        while not self._stopping.is_set():
            began = time.monotonic()
            with self._lock:
                if self._stopping.is_set():
                    break
                try:
                    self._process = self._spawn()
                except OSError:
                    log.exception("%s could not be started", self.name)
                    self._process = None
            self._started.set()
            code = None  # never started
            if self._process is not None:
                code = self._process.wait()
                if self._stopping.is_set() or code == 0:
                    break  # stopped by serve, or asked to stop (SIGTERM, Ctrl-C)
            if time.monotonic() - began > YOUNG:
                pause = FIRST_PAUSE
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
                log.error("%s %s: starting it again in %g s", self.name, how, pause)
            if self._stopping.wait(pause):
                break
            pause = min(pause * 2, LONGEST_PAUSE)
            self.restarts += 1
        self._started.set()  # stopped before the first start: start() must not wait

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self._command, env=self._env)
        if self._nice:
            # After the start, not in the child before exec (preexec_fn is unsafe with
            # threads): the child runs its first milliseconds at serve's priority. Linux keeps
            # a nice value per thread; this sets the child's main thread's before the
            # interpreter has started any other, and its threads inherit it.
            with contextlib.suppress(OSError):  # not allowed, or already gone
                current = os.getpriority(os.PRIO_PROCESS, process.pid)
                os.setpriority(os.PRIO_PROCESS, process.pid, min(current + self._nice, 19))
        return process
