"""Tracking configuration of this instance: keys, tracking host, link rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..core.linkrules import LinkRules, host_of
from ..core.mime import MessagePlan, plan_message
from ..core.tokens import TokenCodec
from ..core.tracker import CopyTracker

__all__ = ["Instrumenter"]


@dataclass(frozen=True, slots=True)
class Instrumenter:
    codec: TokenCodec
    base_url: str  # tracking links are base_url + /c/... and /o/...

    @property
    def rules(self) -> LinkRules:
        host = host_of(self.base_url)
        return LinkRules.build(tracking_hosts=[host] if host else [])

    def plan(self, raw: bytes) -> MessagePlan:
        return plan_message(raw, self.rules)

    def tracker(self, copy_id: int, issued: date) -> CopyTracker:
        return CopyTracker(self.codec, self.base_url, copy_id, issued)
