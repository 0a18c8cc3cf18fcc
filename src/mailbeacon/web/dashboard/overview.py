"""The overview of a project over a period: the figures, a chart of opens and clicks by who
made them (with its numbers in a table), the change against the period before, top links,
and the breakdown by route and tag.

Every number comes from ``service.analytics.run``, the function behind ``POST /v1/analytics``,
with the query :func:`queries` builds: the page and the API cannot disagree for the same
period, by construction. The period is whole days in the viewer's time zone, as the API
takes them (``from``, ``to`` and ``timezone``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...service import analytics
from ...store import tenancy
from ...store.accounts import SessionRow
from ..services import services_of
from .explain import CLASSIFICATIONS
from .periods import PRESET_LABELS, Period, period_of
from .rendering import render
from .scope import chosen_project

__all__ = ["FIGURES", "GROUPS", "SERIES", "local_day", "queries", "router", "split"]

router = APIRouter()

# The chart's groups, coloured as the verdicts they hold: (label, colour, the counters added,
# the counters taken away). Analytics' engagement classes (core/analytics/classes.py) put
# link previews and other bots in one class, "bot"; the preview counters (mailbeacon's own)
# tell them apart, so other bots are bot minus preview.
GROUPS = (
    ("People", "genuine", ("human",), ()),
    ("Privacy proxies", "privacy_proxy", ("privacy",), ()),
    ("Scanners", "security_scanner", ("scanner",), ()),
    ("Previews", "link_preview", ("preview",), ()),
    ("Other bots", "generic_bot", ("bot",), ("preview",)),
)
FIGURES = ("accepted", "delivered", "human_open_rate", "human_click_rate")
SERIES = tuple(
    f"{name}_{kind}_events"
    for kind in ("opens", "clicks")
    for name in dict.fromkeys(n for _, _, plus, minus in GROUPS for n in (*plus, *minus))
)
TOP_LINKS = 10
TOP_GROUPS = 10  # routes and tags with the most mail (a sender may use a tag per campaign)


def queries(
    project: tenancy.Project, period: Period, *, only_project: bool = False
) -> dict[str, dict[str, Any]]:
    """The analytics queries behind the page (the test posts the same to the API). When the
    project is its team's only one, the team's figures are the project's: no filter, which
    spares the analytics layer a condition on every counter row it reads."""
    window: dict[str, Any] = {
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "timezone": period.zone.key,
    }
    if not only_project:
        window["filters"] = [
            {"dimension": "project_id", "operator": "eq", "values": [project.public_id]}
        ]
    # Ranked by delivered, not accepted: accepted weighs each message by its recipients, which
    # the per-dimension counters do not hold, so ranking by it reads the events (2x slower).
    ranked = {"limit": TOP_GROUPS, "sort": {"metric": "delivered", "direction": "desc"}}
    per_group = ["delivered", "human_opens", "human_clicks"]
    return {
        "summary": {
            **window,
            "metrics": [*FIGURES, "human_opens", "human_clicks", *SERIES],
            "include": ["summary", "time_series"],
            "interval": "day",
            "compare": "previous_period",
        },
        "routes": {
            **window,
            **ranked,
            "metrics": per_group,
            "include": ["breakdown"],
            "group_by": ["route_id"],
        },
        "tags": {
            **window,
            **ranked,
            "metrics": per_group,
            "include": ["breakdown"],
            "group_by": ["tag"],
        },
        "links": {
            **window,
            "metrics": ["human_clicks_events", "machine_clicks_events"],
            "include": ["breakdown"],
            "group_by": ["link"],
            "sort": {"metric": "human_clicks_events", "direction": "desc"},
            "limit": TOP_LINKS,
        },
    }


def split(metrics: Mapping[str, Any], kind: str) -> list[int]:
    """A point's or the summary's opens or clicks (``kind``) per group of :data:`GROUPS`."""
    return [
        sum(metrics[f"{n}_{kind}_events"] or 0 for n in plus)
        - sum(metrics[f"{n}_{kind}_events"] or 0 for n in minus)
        for _, _, plus, minus in GROUPS
    ]


def local_day(instant: str, period: Period) -> str:
    """The viewer's day a series point starts (its "from" is the UTC instant of local
    midnight: 2026-11-29T23:00:00.000Z is the 30th in Amsterdam)."""
    start = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return start.astimezone(period.zone).date().isoformat()


def _change(summary: Mapping[str, Any], metric: str) -> str:
    change = summary.get("change", {}).get(metric)
    if not change:
        return "no earlier figure"
    if "percentage_points" in change:
        points = change["percentage_points"]
        return "—" if points is None else f"{points:+.1f} points vs the period before"
    relative = change.get("relative")
    if relative is None:
        return f"{change['absolute']:+d} vs the period before"
    return f"{relative * 100:+.0f} % vs the period before"


def _chart(points: list[dict[str, Any]], kind: str, days: list[str]) -> dict[str, Any]:
    """Stacked bars as SVG coordinates (server-side: no chart script to load or vet)."""
    width, height = 600, 200
    values = [split(p["metrics"], kind) for p in points]
    highest = max((sum(v) for v in values), default=0)
    top = highest or 1  # an empty chart: no division by zero
    step = width / max(len(points), 1)
    bars = []
    for i, counts in enumerate(values):
        y = float(height)
        for (label, colour, _, _), value in zip(GROUPS, counts, strict=True):
            if value:
                h = value / top * height
                y -= h
                bars.append(
                    {
                        "x": round(i * step + step * 0.1, 1),
                        "y": round(y, 1),
                        "w": round(step * 0.8, 1),
                        "h": round(h, 1),
                        "group": colour,
                        "title": f"{days[i]}: {value} by {label.lower()}",
                    }
                )
    return {"bars": bars, "width": width, "height": height, "top": highest}


@router.get("/")
def overview(request: Request) -> Response:
    viewer: SessionRow = request.state.viewer
    services = services_of(request)
    params = request.query_params
    now = services.clock.now()
    period = period_of(
        params.get("period"), params.get("from"), params.get("to"), now, request.state.zone
    )
    with services.db.read() as conn:
        project, projects = chosen_project(conn, viewer, params.get("project"))
        routes = (
            {r.public_id: r.slug for r in tenancy.list_routes(conn, project.id)} if project else {}
        )
    if project is None:
        return render(request, "overview.html", page_name="overview", project=None, projects=[])
    team = viewer.user.team
    answers = {
        name: analytics.run(services.db, team, body, now)
        for name, body in queries(project, period, only_project=len(projects) == 1).items()
    }
    summary = answers["summary"]["data"]["summary"]
    points = answers["summary"]["data"]["time_series"]
    days = [local_day(point["from"], period) for point in points]
    table = [
        {
            "day": days[i],
            "opens": split(point["metrics"], "opens"),
            "clicks": split(point["metrics"], "clicks"),
        }
        for i, point in enumerate(points)
    ]
    # the period's machines by kind: the summary's groups past people and privacy proxies
    opens, clicks = split(summary["metrics"], "opens"), split(summary["metrics"], "clicks")
    machines = [
        {"who": CLASSIFICATIONS[colour], "opens": opens[i], "clicks": clicks[i]}
        for i, (_, colour, _, _) in enumerate(GROUPS)
        if colour in ("security_scanner", "link_preview", "generic_bot") and (opens[i] or clicks[i])
    ]

    def breakdown(name: str, dimension: str) -> list[tuple[str, Mapping[str, Any]]]:
        rows = answers[name]["data"]["breakdown"]
        found = []
        for row in rows:
            value = row["dimensions"][dimension]
            label = routes.get(value, value) if dimension == "route_id" else value
            found.append((label or "(none)", row["metrics"]))
        return found

    return render(
        request,
        "overview.html",
        page_name="overview",
        project=project,
        projects=projects,
        period=period,
        presets=PRESET_LABELS,
        figures=summary["metrics"],
        changes={metric: _change(summary, metric) for metric in FIGURES},
        groups=[(colour, label) for label, colour, _, _ in GROUPS],
        opens_chart=_chart(points, "opens", days),
        clicks_chart=_chart(points, "clicks", days),
        table=table,
        machines=machines,
        links=[
            (
                row["dimensions"]["link"],
                row["metrics"]["human_clicks_events"],
                row["metrics"]["machine_clicks_events"],
            )
            for row in answers["links"]["data"]["breakdown"]
        ],
        by_route=breakdown("routes", "route_id"),
        by_tag=breakdown("tags", "tag"),
    )
