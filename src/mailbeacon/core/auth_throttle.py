"""Failed logins slowed, then refused: a budget per client address (Postfix's anvil).

A password guesser gets each wrong answer later than the last (``BASE_DELAY`` seconds per
failure already spent in the window, up to ``MAX_DELAY``), and once an address has spent
``BUDGET`` failures within ``WINDOW`` seconds it is refused outright until the oldest of them
leaves the window. One session may fail ``PER_SESSION`` times; then it is closed, so a new
connection (and a new TCP and TLS handshake) is the price of every few guesses.

Pure: the caller passes the time (``time.monotonic()`` in the relay) and does the waiting.
The budget lives in one process's memory; several relays each keep their own (an attacker
spread over N of them gets N budgets, still each slowed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["AuthThrottle"]


@dataclass
class AuthThrottle:
    budget: int = 10
    window: float = 600.0
    base_delay: float = 0.5
    max_delay: float = 4.0
    per_session: int = 3
    capacity: int = 10_000  # addresses remembered; the oldest are forgotten beyond
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def refused(self, address: str, now: float) -> bool:
        """Whether ``address`` has spent its budget: refuse without checking the password."""
        return len(self._recent(address, now)) >= self.budget

    def failed(self, address: str, now: float) -> float:
        """Count a failure; how long to wait before answering it."""
        recent = self._recent(address, now)
        if not recent and len(self._failures) >= self.capacity:
            self._failures.pop(next(iter(self._failures)))
        recent.append(now)
        self._failures[address] = recent
        return min(self.base_delay * (len(recent) - 1), self.max_delay)

    def _recent(self, address: str, now: float) -> deque[float]:
        recent = self._failures.get(address, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if not recent:
            self._failures.pop(address, None)
        return recent
