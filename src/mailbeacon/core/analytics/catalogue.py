"""What analytics can count and group by: lookup tables, one entry a metric or a dimension.

A *count* is a sum over events: which event types, which engagement classes, whether only
the class's first event of a copy counts (a unique), a weight (``accepted`` adds a
message's recipients), a flag of the message (open- and click-tracked deliveries) and, for
failures, whether they were permanent. The SQL of both paths (store/analytics.py) is
generated from these entries, so a rollup and a scan of the events cannot disagree.

A *rate* is one count over another (Lettermint's definitions); a zero denominator gives
``null``. A *dimension* names the level of event it describes: every count is of messages,
recipients, opens or clicks, and a dimension applies to the counts of its level and below
(``link`` only to clicks, ``recipient_domain`` to every per-recipient count, ``subject`` to
all), so a query asking for a count a dimension cannot describe is refused, not answered
with a silent null.

What a tracker cannot know (dedicated IPs, SMTP diagnosis, latencies, complaints, ...) is
listed in :data:`UNSUPPORTED_METRICS` / :data:`UNSUPPORTED_DIMENSIONS`: asking for it is a
422 naming what is supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from .classes import BITS, CLASSES

__all__ = [
    "COUNTS",
    "DIMENSIONS",
    "FILTER_ONLY",
    "LEVELS",
    "METRICS",
    "RATES",
    "UNSUPPORTED_DIMENSIONS",
    "UNSUPPORTED_METRICS",
    "Count",
    "Dimension",
    "Rate",
    "counts_needed",
    "level_of",
]

CREATED, SENT, FAILED = "message.created", "message.sent", "message.failed"
OPENED, CLICKED = "message.opened", "message.clicked"
HARD_BOUNCED, SOFT_BOUNCED = "message.hard_bounced", "message.soft_bounced"
SUPPRESSED, UNSUBSCRIBED = "message.suppressed", "message.unsubscribed"

# The levels, widest first: a dimension of a level describes the counts of it and below.
LEVELS = ("message", "recipient", "engagement", "click")


class Count(NamedTuple):
    name: str
    level: str  # message, recipient, engagement (opens and clicks) or click
    types: tuple[str, ...]
    classifications: frozenset[str] | None = None  # engagement: the verdicts counted
    first_bit: int = 0  # a unique: only events that are their copy's first of the class
    weight_recipients: bool = False  # message.created: add the message's recipients
    message_flag: str | None = None  # a messages column that must be true
    permanent: bool | None = None  # message.failed: permanent (a bounce) or not
    # bounces: reported later by a DSN (true) or the upstream's own refusal (false)
    out_of_band: bool | None = None


class Rate(NamedTuple):
    name: str
    numerator: str
    denominator: str


class Dimension(NamedTuple):
    name: str
    level: str
    groupable: bool = True


def _engagement() -> list[Count]:
    made = []
    for name, classifications in CLASSES.items():
        for kind, event_type in (("opens", OPENED), ("clicks", CLICKED)):
            level = "click" if event_type == CLICKED else "engagement"
            made.append(Count(f"{name}_{kind}", level, (event_type,), classifications, BITS[name]))
            made.append(Count(f"{name}_{kind}_events", level, (event_type,), classifications))
    return made


_COUNTS = [
    Count("messages", "message", (CREATED,)),
    Count("accepted", "message", (CREATED,), weight_recipients=True),
    # handed to the upstream or given up: every recipient with an outcome
    Count("processed", "recipient", (SENT, FAILED)),
    Count("delivered", "recipient", (SENT,)),
    Count("bounced", "recipient", (FAILED,), permanent=True),
    Count("soft_bounced", "recipient", (FAILED,), permanent=False),
    Count("transport_outcome_recipients", "recipient", (SENT, FAILED)),
    # A bounce that came back after the upstream took the copy (its in-band refusals are
    # counted by bounced / soft_bounced, from message.failed): once per copy.
    Count(
        "out_of_band_bounced_recipients",
        "recipient",
        (HARD_BOUNCED, SOFT_BOUNCED),
        out_of_band=True,
    ),
    Count("out_of_band_bounce_events", "recipient", (HARD_BOUNCED, SOFT_BOUNCED), out_of_band=True),
    Count("suppressed", "recipient", (SUPPRESSED,)),
    Count("unsubscribed", "recipient", (UNSUBSCRIBED,)),
    Count("open_tracked_delivered", "recipient", (SENT,), message_flag="track_opens"),
    Count("click_tracked_delivered", "recipient", (SENT,), message_flag="track_clicks"),
    *_engagement(),
    # mailbeacon's own: link previews (Slack, Teams, ...) apart from the other bots, which
    # Lettermint's bot class holds together with them; the dashboard's chart shows the two
    # apart (other bots = bot - preview). Event counts only: a unique would need a first bit
    # that events promoted before it existed do not carry.
    Count("preview_opens_events", "engagement", (OPENED,), frozenset({"link_preview"})),
    Count("preview_clicks_events", "click", (CLICKED,), frozenset({"link_preview"})),
]
COUNTS: Mapping[str, Count] = MappingProxyType({count.name: count for count in _COUNTS})

RATES: Mapping[str, Rate] = MappingProxyType(
    {
        rate.name: rate
        for rate in (
            Rate("delivery_rate", "delivered", "transport_outcome_recipients"),
            Rate("bounce_rate", "bounced", "transport_outcome_recipients"),
            Rate("human_open_rate", "human_opens", "open_tracked_delivered"),
            Rate("human_click_rate", "human_clicks", "click_tracked_delivered"),
        )
    }
)
METRICS = (*COUNTS, *RATES)

UNSUPPORTED_METRICS = frozenset(
    {
        "policy_rejected",
        "application_failed",
        "mta_accepted",
        "canceled",
        "administratively_bounced",
        "deferred_recipients",
        "deferred_events",
        "delivery_attempts",
        "attempted_recipients",
        "effective_delivered",
        "complained",
        "effective_delivery_rate",
        "deferral_rate",
        "complaint_rate",
        *(
            f"{stage}_latency_{what}"
            for stage in ("processing", "delivery", "total")
            for what in ("p50_ms", "p95_ms", "p99_ms", "samples")
        ),
    }
)

_DIMENSIONS = [
    Dimension("project_id", "message"),
    Dimension("route_id", "message"),
    Dimension("message_type", "message"),
    Dimension("from_address", "message"),
    Dimension("subject", "message"),
    Dimension("tag", "message"),  # the message's one tag; tag:<name> is its tags' <name>
    Dimension("recipient_domain", "recipient"),
    Dimension("proxy_type", "engagement"),
    Dimension("classification", "engagement"),
    Dimension("family", "engagement"),
    Dimension("client_name", "engagement"),
    Dimension("device_type", "engagement"),
    Dimension("link", "click"),
    Dimension("link_index", "click"),
    *(Dimension(f"is_{name}", "engagement", groupable=False) for name in CLASSES),
]
DIMENSIONS: Mapping[str, Dimension] = MappingProxyType({d.name: d for d in _DIMENSIONS})
FILTER_ONLY = frozenset(d.name for d in _DIMENSIONS if not d.groupable)
TAG_PREFIX = "tag:"

UNSUPPORTED_DIMENSIONS = frozenset(
    {
        "sending_domain",
        "provider_family",
        "provider_subtype",
        "dedicated_ip",
        "dedicated_pool_id",
        "infrastructure_state",
        "smtp_code",
        "enhanced_status_code",
        "enhanced_status_category",
        "bounce_classification",
        "failure_reason",
        "smtp_response_group",
        "engagement_state",
        "request_actor",
    }
)


def level_of(dimension: str) -> str | None:
    """The level a dimension describes; None for an unknown name."""
    if dimension.startswith(TAG_PREFIX) and len(dimension) > len(TAG_PREFIX):
        return "message"
    found = DIMENSIONS.get(dimension)
    return found.level if found else None


def counts_needed(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The counts the metrics need: themselves, and their rates' numerators and
    denominators, each once, in order."""
    needed: dict[str, None] = {}
    for metric in metrics:
        rate = RATES.get(metric)
        if rate is None:
            needed[metric] = None
        else:
            needed[rate.numerator] = None
            needed[rate.denominator] = None
    return tuple(needed)
