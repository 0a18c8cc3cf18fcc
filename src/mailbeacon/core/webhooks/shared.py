"""What both webhook formats put in a delivery: the message's facts, dates, the verdict.

The formats themselves are core/lettermint/webhooks.py and core/lettr/webhooks.py;
core/webhooks/payloads.py chooses between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..events import Event

__all__ = ["MessageFacts", "bot_verdict"]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    public_id: str
    subject: str | None
    metadata: Mapping[str, str]
    tag: str | None
    from_email: str
    from_name: str | None
    recipients: tuple[tuple[str, str], ...]  # (address, to | cc | bcc)
    track_opens: bool
    track_clicks: bool
    transactional: bool
    created_at: datetime


def bot_verdict(event: Event) -> dict[str, Any]:
    classification = event.classification or "genuine"
    return {
        # detected: an automated agent made the request (a privacy proxy included);
        # machine: no person caused it (a privacy proxy fetching for a reader did).
        "detected": classification != "genuine",
        "probability": event.probability,
        "classification": classification,
        "proxy_type": event.proxy_type,
        "reason_codes": list(event.reason_codes or ()),
        "machine": bool(event.machine),
        "counts_for_metrics": bool(event.counts_for_metrics),
    }
