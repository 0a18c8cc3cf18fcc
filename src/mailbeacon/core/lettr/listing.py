"""Lettr's list filters (``GET /emails``, ``GET /emails/events``) in mailbeacon's words.

``events`` names SparkPost event types; each maps to the mailbeacon event it is shaped from
(web/lettr/shapes.py's table, read backwards). Lettr's other types are valid filters that
mailbeacon never produces, so they match nothing rather than being refused:

=======================  ===================================================================
Lettr ``type``           why mailbeacon has none
=======================  ===================================================================
delay                    the outbound queue retries silently; only the outcome is an event
spam_complaint           complaints (feedback loops) do not come back to mailbeacon
initial_open             mailbeacon's only pixel is at the top: every ``open`` has
                         ``initial_pixel`` true, and is listed as ``open``
amp_*                    AMP parts are not instrumented
generation_*             no templates: nothing is generated
link_unsubscribe         mailbeacon's unsubscribe is the one-click header's
=======================  ===================================================================

``out_of_band`` lists bounces that came back later to a VERP return path,
``policy_rejection`` suppressed recipients and ``list_unsubscribe`` one-click unsubscribes.

``bounce_classes``: mailbeacon's bounces have class 1 (undetermined: the upstream refused it
and its reply is not classified) or 24 (timeout: the retries ran out). Given, it keeps bounces
of those classes only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import ApiError

__all__ = [
    "BOUNCE_CLASSES",
    "EVENT_TYPES",
    "EventSelection",
    "instant",
    "recipients",
    "selection",
]

EVENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "injection": ("message.created",),
    "delivery": ("message.sent",),
    "bounce": ("message.failed",),
    "open": ("message.opened",),
    "click": ("message.clicked",),
    # in-band bounces are listed as message.failed's bounce: web/lettr/shapes.py skips them
    "out_of_band": ("message.hard_bounced", "message.soft_bounced"),
    "policy_rejection": ("message.suppressed",),
    "list_unsubscribe": ("message.unsubscribed",),
    **dict.fromkeys(
        (
            *("delay", "spam_complaint", "initial_open"),
            *("amp_click", "amp_open", "amp_initial_open", "generation_failure"),
            *("generation_rejection", "link_unsubscribe"),
        ),
        (),
    ),
}
# bounce_class -> whether the failure was permanent (core/lettr/webhooks.py's classes)
BOUNCE_CLASSES: Mapping[int, bool] = {1: True, 24: False}


@dataclass(frozen=True, slots=True)
class EventSelection:
    types: frozenset[str]  # mailbeacon event types; empty: nothing matches
    permanent: frozenset[bool] | None  # bounces of these kinds only; None: any event


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, message, code="validation_error", errors={field: [message]})


def _listed(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def selection(events: str | None, bounce_classes: str | None) -> EventSelection:
    """What ``events`` and ``bounce_classes`` ask for; a 422 names an unknown type or a class
    that is not a number."""
    names = _listed(events)
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise _invalid("events", f"Unknown event types: {', '.join(unknown)}. Valid: {known}.")
    wanted = [EVENT_TYPES[name] for name in names] if names else list(EVENT_TYPES.values())
    types = frozenset(name for group in wanted for name in group)
    permanent = None
    classes = _listed(bounce_classes)
    if classes:
        if not all(text.isdigit() for text in classes):
            raise _invalid("bounce_classes", "The bounce_classes must be numbers, comma-separated.")
        permanent = frozenset(BOUNCE_CLASSES[c] for c in map(int, classes) if c in BOUNCE_CLASSES)
        types &= {"message.failed"}
    return EventSelection(types, permanent)


def recipients(text: str | None) -> tuple[str, ...]:
    """The comma-separated addresses, lower-cased (addresses are compared without case);
    one without an ``@`` is a 422."""
    found = tuple(address.lower() for address in _listed(text))
    bad = [address for address in found if "@" not in address]
    if bad:
        raise _invalid("recipients", f"Not an email address: {', '.join(bad)}.")
    return found


def instant(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is UTC. A bare date as ``to`` means the
    whole of that day."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        message = f"The {name} parameter must be an ISO 8601 date or date and time."
        raise _invalid(name, message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(value) == len("2026-01-31"):
        moment += timedelta(days=1, microseconds=-1)
    return moment
