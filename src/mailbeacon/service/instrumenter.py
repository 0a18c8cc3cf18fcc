"""Tracking configuration of this instance: keys, tracking hosts, link rules.

Without ``hosts`` every link points at ``base_url`` (the public URL) with no audience, as
before tracking domains. With them, a message's links point at its project's tracking origin
(service/tracking_hosts.py: a custom domain, the default host or the public URL), which
:func:`~mailbeacon.service.accept.accept` asks for once per message and hands to each copy's
tracker; the link rules then know every tracking host, so tracked links are never wrapped again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..core.hosts.tracking_hosts import SHARED, TrackingOrigin
from ..core.instrumentation.linkrules import LinkRules, host_of
from ..core.instrumentation.mime import MessagePlan, plan_message
from ..core.instrumentation.tokens import TokenCodec
from ..core.instrumentation.tracker import CopyTracker
from ..store.tenancy import Project
from .tracking_hosts import TrackingHosts

__all__ = ["Instrumenter"]


@dataclass(frozen=True, slots=True)
class Instrumenter:
    codec: TokenCodec
    base_url: str  # the shared origin: base_url + /c/... and /o/...
    hosts: TrackingHosts | None = None
    bounce_domain: str | None = None  # each copy's VERP return path's domain; None: no VERP

    @property
    def rules(self) -> LinkRules:
        if self.hosts is not None:
            return self.hosts.link_rules()
        host = host_of(self.base_url)
        return LinkRules.build(tracking_hosts=[host] if host else [])

    def plan(self, raw: bytes) -> MessagePlan:
        return plan_message(raw, self.rules)

    def origin(self, project: Project) -> TrackingOrigin:
        """Where ``project``'s new links point, and the audience their tokens are minted for."""
        if self.hosts is None:
            return TrackingOrigin(self.base_url, SHARED)
        return self.hosts.origin(project.id, project.sid)

    def tracker(
        self, copy_id: int, issued: date, origin: TrackingOrigin | None = None
    ) -> CopyTracker:
        origin = origin or TrackingOrigin(self.base_url, SHARED)
        return CopyTracker(self.codec, origin.base_url, copy_id, issued, audience=origin.audience)
