"""Whether one email's opens and clicks are tracked.

The route sets the defaults; a per-email override, in whichever vocabulary the email arrived
with, takes precedence for that email only. Three rules beat everything: inbound routes never
track, an email without HTML can be neither opened (no pixel) nor clicked (plain-text parts
are never rewritten), and a recipient who opted out of tracking gets a copy with neither
(:func:`for_recipient`: the decision is per copy, the message's is what the others get).

The vocabularies are normalised by lookup tables, one per entry point (the JSON ones live with
their dialect: core/lettermint/submission.py, core/lettr/submission.py):

=================  ===============================  ==================================
entry point        opens                            clicks
=================  ===============================  ==================================
Lettermint API     ``settings.track_opens``         ``settings.track_clicks``
Lettr API          ``options.open_tracking``        ``options.click_tracking``
SMTP headers       ``X-LM-Override-Track-Opens``    ``X-LM-Override-Track-Clicks``
=================  ===============================  ==================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import InvalidOverride

__all__ = [
    "OVERRIDE_HEADERS",
    "Because",
    "RouteType",
    "TrackingDecision",
    "TrackingOverrides",
    "TrackingSettings",
    "for_recipient",
    "overrides_from_headers",
    "overrides_from_json",
    "resolve_tracking",
]


class RouteType(enum.Enum):
    TRANSACTIONAL = "transactional"
    BROADCAST = "broadcast"
    INBOUND = "inbound"


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """A route's defaults."""

    track_opens: bool
    track_clicks: bool


@dataclass(frozen=True, slots=True)
class TrackingOverrides:
    """What one email asks for; None where it says nothing."""

    track_opens: bool | None = None
    track_clicks: bool | None = None


class Because(enum.Enum):
    """Why a decision came out as it did (shown to operators)."""

    ROUTE = "route"  # the route's setting
    OVERRIDE = "override"  # the email's own override
    INBOUND = "inbound"  # inbound routes never track
    NO_HTML = "no_html"  # nothing to instrument
    OPTED_OUT = "opted_out"  # the recipient asked not to be tracked


@dataclass(frozen=True, slots=True)
class TrackingDecision:
    opens: bool
    clicks: bool
    opens_because: Because
    clicks_because: Because


def resolve_tracking(
    route_type: RouteType,
    route: TrackingSettings,
    overrides: TrackingOverrides = TrackingOverrides(),
    *,
    has_html: bool,
) -> TrackingDecision:
    """Whether to track this email's opens and clicks."""
    if route_type is RouteType.INBOUND:
        return TrackingDecision(False, False, Because.INBOUND, Because.INBOUND)
    if not has_html:
        return TrackingDecision(False, False, Because.NO_HTML, Because.NO_HTML)
    opens, opens_because = _choose(overrides.track_opens, route.track_opens)
    clicks, clicks_because = _choose(overrides.track_clicks, route.track_clicks)
    return TrackingDecision(opens, clicks, opens_because, clicks_because)


def for_recipient(decision: TrackingDecision, *, opted_out: bool) -> TrackingDecision:
    """One recipient's copy: the message's decision, unless they opted out of tracking."""
    if not opted_out or not (decision.opens or decision.clicks):
        return decision
    return TrackingDecision(False, False, Because.OPTED_OUT, Because.OPTED_OUT)


def _choose(override: bool | None, default: bool) -> tuple[bool, Because]:
    if override is None:
        return default, Because.ROUTE
    return override, Because.OVERRIDE


def overrides_from_json(
    body: Mapping[str, object] | None, where: str, *, opens: str, clicks: str
) -> TrackingOverrides:
    """A JSON object's two boolean override keys (the dialects name them: Lettermint's
    ``settings``, Lettr's ``options``); ``where`` prefixes the field an error names."""
    if not body:
        return TrackingOverrides()
    return TrackingOverrides(
        track_opens=_json_bool(body.get(opens), f"{where}.{opens}"),
        track_clicks=_json_bool(body.get(clicks), f"{where}.{clicks}"),
    )


def _json_bool(value: object, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidOverride(field, value)


OVERRIDE_HEADERS = {
    "x-lm-override-track-opens": "track_opens",
    "x-lm-override-track-clicks": "track_clicks",
}
_HEADER_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


def overrides_from_headers(headers: Iterable[tuple[str, str]]) -> TrackingOverrides:
    """The SMTP override headers among ``headers`` (name, value pairs, any letter case).

    A header repeated with contradicting values is an error: guessing which one the sender
    meant could track an email they asked us not to.
    """
    found: dict[str, bool] = {}
    for name, raw_value in headers:
        field = OVERRIDE_HEADERS.get(name.strip().lower())
        if field is None:
            continue
        value = _HEADER_WORDS.get(raw_value.strip().lower())
        if value is None or found.get(field, value) != value:
            raise InvalidOverride(name.strip(), raw_value.strip())
        found[field] = value
    return TrackingOverrides(found.get("track_opens"), found.get("track_clicks"))
