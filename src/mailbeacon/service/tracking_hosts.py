"""The tracking hosts this instance serves, kept in memory (core/hosts/tracking_hosts.py says what
they mean).

Three readers, none of which may query the database per request:

- the redirect path maps a Host header to the audience its tokens are checked under: one dict
  lookup for a host seen before;
- accepting a message picks the project's tracking origin (its newest active custom domain,
  its default host, or the public URL) and the link rules that know every tracking host;
- Caddy's on-demand TLS ``ask`` learns whether a name is one of ours.

The map is read again from the database every ``refresh_seconds`` (lazily, by whoever finds it
stale), at once when this process changes a domain (:meth:`TrackingHosts.changed`), and when
a host that could be a custom domain is not in it: another process (``mailbeacon worker``, a
second ``serve``) may have just activated it. Such misses read at most once every
``miss_seconds``, so Host headers made up by the thousand cost one query a second, not one
each; until then an unknown host is the shared host, where no project's token verifies.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..core.hosts.hostnames import host_of_header
from ..core.hosts.tracking_hosts import (
    SHARED,
    HostMap,
    TrackingOrigin,
    could_be_custom,
    origin_for,
    sid_of_default_host,
)
from ..core.instrumentation.linkrules import LinkRules, host_of
from ..store import tracking_domains
from ..store.db import Database

__all__ = ["TrackingHosts"]

_MEMO_LIMIT = 10_000  # Host headers remembered; made-up ones must not grow it without bound
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    hosts: HostMap
    custom_of: dict[int, str] = field(default_factory=dict)  # project id -> newest domain
    sids: frozenset[str] = frozenset()
    rules: LinkRules = field(default_factory=LinkRules)
    loaded_at: float = float("-inf")


class TrackingHosts:
    """The map of tracking hosts, shared by the threads and the event loop of one process."""

    def __init__(
        self,
        db: Database,
        public_url: str,
        base_domain: str | None = None,
        *,
        refresh_seconds: float = 30.0,
        miss_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.public_url = public_url
        self.public_host = host_of(public_url) or ""
        self.base_domain = base_domain
        self._refresh_seconds = refresh_seconds
        self._miss_seconds = miss_seconds
        self._monotonic = monotonic
        self._snapshot = self._build([], [], float("-inf"))
        self._memo: dict[str, bytes] = {}
        self._lock = threading.Lock()  # one reading of the database at a time
        self._reading: asyncio.Future[None] | None = None
        self._reading_since = float("-inf")  # when ``_reading`` was started

    # --- reading the database ---------------------------------------------------------------

    def refresh(self) -> None:
        """Read the active custom domains and the projects' sids (blocking: a thread's work)."""
        with self._lock:
            started = self._monotonic()
            with self._db.read() as conn:
                active = tracking_domains.active_domains(conn)
                sids = tracking_domains.project_sids(conn)
            self._snapshot = self._build(active, sids, started)
            self._memo = {}

    def changed(self) -> None:
        """This process added, verified or deleted a domain: read again now."""
        self.refresh()

    def _build(
        self, active: list[tracking_domains.ActiveDomain], sids: list[str], loaded_at: float
    ) -> _Snapshot:
        custom = {d.domain: d.sid for d in active}
        newest: dict[int, str] = {}
        # A project with several active domains mints on the one verified last (ties: the one
        # added last); the others keep answering for it, so links already sent still work.
        for domain in sorted(active, key=lambda d: d.verified_at or _NEVER):  # stable
            newest[domain.project_id] = domain.domain
        rules = LinkRules.build(
            tracking_hosts=[self.public_host, *custom],
            tracking_domains=[self.base_domain] if self.base_domain else [],
        )
        return _Snapshot(
            hosts=HostMap(self.public_host, self.base_domain, custom),
            custom_of=newest,
            sids=frozenset(sids),
            rules=rules,
            loaded_at=loaded_at,
        )

    def _stale(self) -> bool:
        return self._monotonic() - self._snapshot.loaded_at >= self._refresh_seconds

    def _may_read_on_miss(self) -> bool:
        return self._monotonic() - self._snapshot.loaded_at >= self._miss_seconds

    async def _read(self) -> None:
        """Refresh in a thread; concurrent callers share one reading, if it was started
        within the miss window. An older one may have read the database before the change
        this miss looks for, and may even be over, its future not yet told so (that waits
        for the loop's next turn): such a reading is not this miss's, so another starts."""
        if self._monotonic() - self._reading_since >= self._miss_seconds:
            self._start_reading()
        assert self._reading is not None
        await asyncio.shield(self._reading)

    def _read_soon(self) -> None:
        """Start a refresh without waiting for it (the redirect path answers meanwhile)."""
        if self._reading is None or self._reading.done():
            self._start_reading()

    def _start_reading(self) -> None:
        self._reading_since = self._monotonic()
        self._reading = asyncio.get_running_loop().run_in_executor(None, self.refresh)

    # --- accepting messages (threads) ---------------------------------------------------------

    def origin(self, project_id: int, sid: str) -> TrackingOrigin:
        """Where the tracking links of a message of this project point, minted for whom."""
        if self._stale():
            self.refresh()
        custom = self._snapshot.custom_of.get(project_id)
        return origin_for(self.public_url, self.base_domain, sid, custom)

    def link_rules(self) -> LinkRules:
        """Rules that know every tracking host, so tracked links are never wrapped again."""
        if self._stale():
            self.refresh()
        return self._snapshot.rules

    # --- the redirect path (event loop) -------------------------------------------------------

    def known_audience(self, host_header: str) -> bytes | None:
        """The audience for a Host header seen before, while the map is fresh; None sends the
        caller to :meth:`audience`."""
        if self._stale():
            return None
        return self._memo.get(host_header)

    async def audience(self, host_header: str) -> bytes:
        """The audience of tokens valid on the host a Host header names."""
        if self._stale():
            self._read_soon()
        host = host_of_header(host_header)
        audience = self._snapshot.hosts.audience(host)
        if audience is None and self._may_read_on_miss():
            await self._read()
            audience = self._snapshot.hosts.audience(host)
        if audience is None:
            return SHARED  # not remembered: a domain activated elsewhere is found within 1 s
        if len(self._memo) < _MEMO_LIMIT:
            self._memo[host_header] = audience
        return audience

    # --- Caddy's on-demand TLS ----------------------------------------------------------------

    def _serves(self, host: str) -> bool | None:
        """Whether the map says ``host`` is ours; None when a fresh reading might say yes
        (a project or an activation since the last one)."""
        snapshot = self._snapshot
        if host == self.public_host or host in snapshot.hosts.custom:
            return True
        if self.base_domain is not None:
            sid = sid_of_default_host(host, self.base_domain)
            if sid is not None:
                return True if sid in snapshot.sids else None
        return None if could_be_custom(host) else False

    async def serves(self, name: str) -> bool:
        """Whether a certificate may be obtained for ``name``: the public host, a project's
        default host, or an active custom domain."""
        host = host_of_header(name)
        if self._stale():
            self._read_soon()
        answer = self._serves(host)
        if answer is None and self._may_read_on_miss():
            await self._read()
            answer = self._serves(host)
        return bool(answer)
