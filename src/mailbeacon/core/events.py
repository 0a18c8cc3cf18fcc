"""The event: what happened to a message, the engagement ones with their verdicts.

One type from the moment an event is made (accepting a message, the outbound queue, the
promoter) to its webhook payloads and the APIs that read it back: its fields are the
``events`` table's columns, in their order, so the store writes it as it is. A NamedTuple,
not a dataclass: the promoter makes one per hit (~20,000 a second), and a tuple is built and
written in a fraction of the time.

Engagement events (``message.opened``, ``message.clicked``) carry a verdict; the others carry
``data`` (the upstream's reply, a failure's reason, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = ["ENGAGEMENT", "NO_DATA", "Event", "machine_only"]

ENGAGEMENT = frozenset({"message.opened", "message.clicked"})
NO_DATA: Mapping[str, Any] = MappingProxyType({})  # shared, and nothing can change it


class Event(NamedTuple):
    public_id: str
    project_id: int
    message_id: int
    type: str  # message.created, message.sent, message.failed, message.opened, ...
    at: datetime
    copy_id: int | None = None  # the recipient's copy, for all but message.created
    observation_id: int | None = None  # the hit an engagement event was promoted from
    recipient: str | None = None
    link_index: int | None = None
    url: str | None = None
    anchor_text: str | None = None
    first: bool | None = None  # first_open / first_click among human-countable events
    classification: str | None = None
    probability: int | None = None
    proxy_type: str | None = None
    family: str | None = None
    reason_codes: Sequence[str] | None = None
    details: Sequence[str] | None = None
    machine: bool | None = None
    counts_for_metrics: bool | None = None
    device_type: str | None = None
    client_type: str | None = None
    client_name: str | None = None
    user_agent: str | None = None
    data: Mapping[str, Any] = NO_DATA
    firsts: int | None = None  # engagement: the classes this is the copy's first of (bits)
    id: int | None = None  # the row's id, once stored (never written: the database assigns it)


def machine_only(event: Event) -> bool:
    """An engagement event that does not count for metrics (labels, not drops)."""
    return event.type in ENGAGEMENT and not event.counts_for_metrics
