"""What one event adds to the hourly analytics counters: the catalogue's counts, judged in
Python on the event as it is recorded (service/events.py), where store/analytics.py judges
the same entries in SQL on stored events. tests/store/test_analytics_rollup.py checks, on
random events, that both answers are equal.

The judgement depends on a handful of facts only (the event's type, classification, first
bits and failure kind, the message's tracking flags), so it is remembered per combination:
the promoter records thousands of events a pass.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator

from ..events import Event
from .catalogue import COUNTS, DIMENSIONS, LEVELS, Count

__all__ = [
    "DAILY",
    "LEVEL_OF_TYPE",
    "contributions",
    "daily_facts",
    "daily_values",
    "daily_values_of",
    "message_type",
    "value_key",
]

# The dimensions with daily counters per value (store: analytics_daily), each with the level
# of the events it describes (as in the catalogue).
DAILY = {
    name: DIMENSIONS[name].level
    for name in (
        "tag",
        "recipient_domain",
        "client_name",
        "device_type",
        "classification",
        "family",
        "proxy_type",
        "link",
        "link_index",
    )
}
LEVEL_OF_TYPE = {
    "message.created": "message",
    "message.sent": "recipient",
    "message.failed": "recipient",
    "message.hard_bounced": "recipient",
    "message.soft_bounced": "recipient",
    "message.suppressed": "recipient",
    "message.unsubscribed": "recipient",
    "message.opened": "engagement",
    "message.clicked": "click",
}


_BOUNCES = frozenset({"message.hard_bounced", "message.soft_bounced"})


def message_type(route_type: str | None, transactional: bool) -> str:
    """broadcast or transactional: the route's type, else the message's flag (no route)."""
    kind = route_type or ("transactional" if transactional else "broadcast")
    return "broadcast" if kind == "broadcast" else "transactional"


def contributions(
    event: Event, track_opens: bool, track_clicks: bool
) -> tuple[tuple[str, int], ...]:
    """(count, amount) for every count ``event`` adds to (the same tuple for every event with
    the same facts, remembered)."""
    failed = event.type == "message.failed"
    permanent = bool(event.data.get("permanent")) if failed else None
    bounce = event.type in _BOUNCES
    out_of_band = bool(event.data.get("out_of_band")) if bounce else None
    recipients = int(event.data.get("recipients", 0)) if event.type == "message.created" else 0
    return _amounts(
        event.type,
        event.classification,
        event.firsts or 0,
        permanent,
        out_of_band,
        track_opens,
        track_clicks,
        recipients,
    )


@functools.cache
def _amounts(
    event_type: str,
    classification: str | None,
    firsts: int,
    permanent: bool | None,
    out_of_band: bool | None,
    track_opens: bool,
    track_clicks: bool,
    recipients: int,
) -> tuple[tuple[str, int], ...]:
    names = _counted(
        event_type, classification, firsts, permanent, out_of_band, track_opens, track_clicks
    )
    return tuple((name, recipients if COUNTS[name].weight_recipients else 1) for name in names)


@functools.cache
def _counted(
    event_type: str,
    classification: str | None,
    firsts: int,
    permanent: bool | None,
    out_of_band: bool | None,
    track_opens: bool,
    track_clicks: bool,
) -> tuple[str, ...]:
    flags = {"track_opens": track_opens, "track_clicks": track_clicks}
    return tuple(
        count.name
        for count in COUNTS.values()
        if _matches(count, event_type, classification, firsts, (permanent, out_of_band), flags)
    )


def _matches(
    count: Count,
    event_type: str,
    classification: str | None,
    firsts: int,
    facts: tuple[bool | None, bool | None],  # permanent, out_of_band
    flags: dict[str, bool],
) -> bool:
    if event_type not in count.types:
        return False
    if count.classifications is not None and classification not in count.classifications:
        return False
    if count.first_bit and not firsts & count.first_bit:
        return False
    if count.message_flag is not None and not flags[count.message_flag]:
        return False
    permanent, out_of_band = facts
    if count.out_of_band is not None and bool(out_of_band) is not count.out_of_band:
        return False
    return count.permanent is None or bool(permanent) is count.permanent


def daily_values(event: Event, tag: str | None) -> Iterator[tuple[str, str | None]]:
    """(dimension, value) of every per-value daily counter ``event`` adds to: the dimensions
    that describe its level (a message's tag for all, a link for clicks only)."""
    return daily_values_of(event.type, daily_facts(event, tag))


DailyFacts = tuple[str | None, ...]  # the value of each DAILY dimension, in DAILY's order


def daily_facts(event: Event, tag: str | None) -> DailyFacts:
    """Every DAILY dimension's value for ``event``, whatever its level, in one tuple: the
    promoter's events are tallied by it first (many events of a pass share it), and
    :func:`daily_values_of` picks the dimensions of their level once per distinct tuple."""
    recipient = event.recipient
    # as the SQL of the exact path: what follows the first "@", lower case
    domain = None if recipient is None else recipient[recipient.find("@") + 1 :].lower()
    index = event.link_index
    return (
        tag,
        domain,
        event.client_name,
        event.device_type,
        event.classification,
        event.family,
        event.proxy_type,
        event.url,
        None if index is None else str(index),
    )


def daily_values_of(event_type: str, facts: DailyFacts) -> Iterator[tuple[str, str | None]]:
    """:func:`daily_values` from an event's type and :func:`daily_facts`."""
    for name, position in _daily_of(event_type):
        yield name, facts[position]


@functools.cache
def _daily_of(event_type: str) -> tuple[tuple[str, int], ...]:
    """The DAILY dimensions an event of this type describes, each with its place in
    :func:`daily_facts`."""
    level = LEVELS.index(LEVEL_OF_TYPE.get(event_type, "message"))
    return tuple(
        (name, position)
        for position, (name, at) in enumerate(DAILY.items())
        if LEVELS.index(at) <= level
    )


_FACTS_ORDER = (
    "tag",
    "recipient_domain",
    "client_name",
    "device_type",
    "classification",
    "family",
    "proxy_type",
    "link",
    "link_index",
)
assert tuple(DAILY) == _FACTS_ORDER, "daily_facts builds its tuple in DAILY's order"


@functools.lru_cache(maxsize=65536)  # a batch repeats its tags, links and domains
def value_key(value: str | None) -> str:
    """The key of a value in the daily counters: its MD5 in hex (a key, not a secret: MD5 is
    the hash PostgreSQL has built in, so a rebuild computes it in SQL), "" for none."""
    return "" if value is None else hashlib.md5(value.encode()).hexdigest()
