"""Settings resolution: route defaults, per-email overrides in three vocabularies."""

from __future__ import annotations

import itertools

import pytest

from mailbeacon.core.errors import InvalidOverride
from mailbeacon.core.intake.policy import (
    Because,
    RouteType,
    TrackingOverrides,
    TrackingSettings,
    overrides_from_headers,
    resolve_tracking,
)
from mailbeacon.core.lettermint.submission import overrides_from_lettermint
from mailbeacon.core.lettr.submission import overrides_from_lettr

T, F, N = True, False, None
TX, BC, IN = RouteType.TRANSACTIONAL, RouteType.BROADCAST, RouteType.INBOUND

# route type, route (opens, clicks), override (opens, clicks), has_html -> (opens, clicks)
TABLE = [
    (TX, (T, T), (N, N), True, (T, T)),
    (TX, (F, F), (N, N), True, (F, F)),
    (TX, (T, F), (N, N), True, (T, F)),
    (BC, (F, T), (N, N), True, (F, T)),
    (TX, (T, T), (F, N), True, (F, T)),
    (TX, (T, T), (N, F), True, (T, F)),
    (TX, (F, F), (T, T), True, (T, T)),
    (BC, (F, F), (T, N), True, (T, F)),
    (BC, (T, T), (F, F), True, (F, F)),
    (IN, (T, T), (N, N), True, (F, F)),  # inbound never tracks,
    (IN, (T, T), (T, T), True, (F, F)),  # not even when the email asks
    (TX, (T, T), (N, N), False, (F, F)),  # no HTML: no pixel, no links
    (TX, (T, T), (T, T), False, (F, F)),
]


@pytest.mark.parametrize(("route_type", "route", "override", "has_html", "expected"), TABLE)
def test_table(
    route_type: RouteType,
    route: tuple[bool, bool],
    override: tuple[bool | None, bool | None],
    has_html: bool,
    expected: tuple[bool, bool],
) -> None:
    decision = resolve_tracking(
        route_type, TrackingSettings(*route), TrackingOverrides(*override), has_html=has_html
    )
    assert (decision.opens, decision.clicks) == expected


@pytest.mark.parametrize(
    ("route_type", "route", "override", "has_html"),
    list(
        itertools.product(
            list(RouteType),
            itertools.product([T, F], repeat=2),
            itertools.product([T, F, N], repeat=2),
            [True, False],
        )
    ),
)
def test_every_combination(
    route_type: RouteType,
    route: tuple[bool, bool],
    override: tuple[bool | None, bool | None],
    has_html: bool,
) -> None:
    """All 216 combinations: inbound or no HTML never track; otherwise the override, if the
    email gives one, else the route's setting, and the reason says which."""
    decision = resolve_tracking(
        route_type, TrackingSettings(*route), TrackingOverrides(*override), has_html=has_html
    )
    for got, why, asked, default in (
        (decision.opens, decision.opens_because, override[0], route[0]),
        (decision.clicks, decision.clicks_because, override[1], route[1]),
    ):
        if route_type is IN:
            assert (got, why) == (False, Because.INBOUND)
        elif not has_html:
            assert (got, why) == (False, Because.NO_HTML)
        elif asked is None:
            assert (got, why) == (default, Because.ROUTE)
        else:
            assert (got, why) == (asked, Because.OVERRIDE)


def test_lettermint_settings() -> None:
    assert overrides_from_lettermint(None) == TrackingOverrides()
    assert overrides_from_lettermint({"track_opens": False}) == TrackingOverrides(False, None)
    assert overrides_from_lettermint(
        {"track_opens": True, "track_clicks": False}
    ) == TrackingOverrides(True, False)
    with pytest.raises(InvalidOverride, match=r"settings\.track_clicks"):
        overrides_from_lettermint({"track_clicks": "false"})


def test_lettr_options() -> None:
    assert overrides_from_lettr({"open_tracking": False, "transactional": True}) == (
        TrackingOverrides(False, None)
    )
    assert overrides_from_lettr({"click_tracking": True}) == TrackingOverrides(None, True)
    with pytest.raises(InvalidOverride, match=r"options\.open_tracking"):
        overrides_from_lettr({"open_tracking": 0})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], TrackingOverrides()),
        ([("X-LM-Override-Track-Opens", "false")], TrackingOverrides(False, None)),
        ([("x-lm-override-track-clicks", " TRUE ")], TrackingOverrides(None, True)),
        (
            [("X-LM-Override-Track-Opens", "no"), ("X-LM-Override-Track-Clicks", "1")],
            TrackingOverrides(False, True),
        ),
        (
            [("X-LM-Override-Track-Opens", "false"), ("X-LM-Override-Track-Opens", "off")],
            TrackingOverrides(False, None),
        ),
        ([("Subject", "true")], TrackingOverrides()),
    ],
)
def test_smtp_headers(headers: list[tuple[str, str]], expected: TrackingOverrides) -> None:
    assert overrides_from_headers(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [("X-LM-Override-Track-Opens", "maybe")],
        [("X-LM-Override-Track-Clicks", "")],
        [("X-LM-Override-Track-Opens", "true"), ("X-LM-Override-Track-Opens", "false")],
    ],
)
def test_bad_or_contradicting_headers_are_refused(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidOverride, match="X-LM-Override-Track"):
        overrides_from_headers(headers)
