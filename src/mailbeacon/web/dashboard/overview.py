"""The overview of a project over a period: the figures, a chart of opens and clicks by who
made them (with its numbers in a table), the change against the period before, top links,
and the breakdown by route and tag.

Until the analytics query layer (``POST /v1/analytics``) is merged, the figures come from the
daily rollups (store/rollups.py's stats_daily: sent, failed, unique opens and clicks) and the
split by classification from the events themselves; both are counted per UTC day, so a
period is the viewer's days rounded to UTC days (the page says so).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...store import dashboard as reads
from ...store import tenancy
from ...store.accounts import SessionRow
from ..services import services_of
from .explain import CLASSIFICATIONS
from .periods import PRESET_LABELS, Period, period_of
from .rendering import render
from .scope import chosen_project

__all__ = ["Figures", "figures", "router"]

router = APIRouter()

GROUPS = ("genuine", "privacy_proxy", "security_scanner", "link_preview", "generic_bot")
GROUP_LABELS = {
    "genuine": "People",
    "privacy_proxy": "Privacy proxies",
    "security_scanner": "Scanners",
    "link_preview": "Previews",
    "generic_bot": "Other bots",
}


@dataclass(frozen=True, slots=True)
class Figures:
    sent: int
    failed: int
    unique_opened: int
    unique_clicked: int

    @property
    def open_rate(self) -> float | None:
        return self.unique_opened / self.sent if self.sent else None

    @property
    def click_rate(self) -> float | None:
        return self.unique_clicked / self.sent if self.sent else None


def _sum(rows: list[Any]) -> Figures:
    total: Counter[str] = Counter()
    for row in rows:
        for name in ("sent", "failed", "unique_opened", "unique_clicked"):
            total[name] += getattr(row, name)
    return Figures(total["sent"], total["failed"], total["unique_opened"], total["unique_clicked"])


def figures(conn: Any, project_id: int, period: Period) -> tuple[Figures, list[Any]]:
    rows = reads.daily_counters(conn, project_id, *_utc_days(period))
    return _sum(rows), rows


def _utc_days(period: Period) -> tuple[date, date]:
    return period.start.date(), (period.end - timedelta(microseconds=1)).date()


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return "—"
    if before == 0:
        return "new" if now else "no change"
    return f"{(now - before) / before * 100:+.0f} %"


def _chart(series: dict[str, Counter[str]], days: list[str]) -> dict[str, Any]:
    """Stacked bars as SVG coordinates (server-side: no chart script to load or vet)."""
    totals = [sum(series[d].values()) for d in days]
    highest = max(totals, default=0)
    top = highest or 1  # an empty chart: no division by zero
    width, height = 600, 200
    step = width / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        y = float(height)
        for group in GROUPS:
            value = series[day][group]
            if not value:
                continue
            h = value / top * height
            y -= h
            bars.append(
                {
                    "x": round(i * step + step * 0.1, 1),
                    "y": round(y, 1),
                    "w": round(step * 0.8, 1),
                    "h": round(h, 1),
                    "group": group,
                    "title": f"{day}: {value} by {GROUP_LABELS[group].lower()}",
                }
            )
    return {"bars": bars, "width": width, "height": height, "top": highest}


@router.get("/")
def overview(request: Request) -> Response:
    viewer: SessionRow = request.state.viewer
    services = services_of(request)
    params = request.query_params
    period = period_of(
        params.get("period"),
        params.get("from"),
        params.get("to"),
        services.clock.now(),
        request.state.zone,
    )
    with services.db.read() as conn:
        project, projects = chosen_project(conn, viewer, params.get("project"))
        if project is None:
            return render(request, "overview.html", page_name="overview", project=None, projects=[])
        now_figures, rows = figures(conn, project.id, period)
        before_figures, _ = figures(conn, project.id, period.previous())
        engagement = reads.engagement_by_day(conn, project.id, period.start, period.end)
        links = reads.top_links(conn, project.id, period.start, period.end)
        routes = {r.id: r for r in tenancy.list_routes(conn, project.id)}
    first, last = _utc_days(period)
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    series: dict[str, dict[str, Counter[str]]] = {
        "message.opened": defaultdict(Counter),
        "message.clicked": defaultdict(Counter),
    }
    for day, kind, classification, count in engagement:
        series[kind][day][classification or "generic_bot"] += count
    table = [
        {
            "day": day,
            "opens": [series["message.opened"][day][g] for g in GROUPS],
            "clicks": [series["message.clicked"][day][g] for g in GROUPS],
        }
        for day in days
    ]
    by_route: dict[str, Counter[str]] = defaultdict(Counter)
    by_tag: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        route = routes.get(row.route_id)
        for target, name in (
            (by_route, route.slug if route else "(none)"),
            (by_tag, row.tag or "(none)"),
        ):
            for counter in ("sent", "unique_opened", "unique_clicked"):
                target[name][counter] += getattr(row, counter)
    return render(
        request,
        "overview.html",
        page_name="overview",
        project=project,
        projects=projects,
        period=period,
        presets=PRESET_LABELS,
        now=now_figures,
        before=before_figures,
        changes={
            "sent": _change(now_figures.sent, before_figures.sent),
            "open_rate": _change(now_figures.open_rate, before_figures.open_rate),
            "click_rate": _change(now_figures.click_rate, before_figures.click_rate),
        },
        groups=[(g, GROUP_LABELS[g], CLASSIFICATIONS[g]) for g in GROUPS],
        opens_chart=_chart(series["message.opened"], days),
        clicks_chart=_chart(series["message.clicked"], days),
        table=table,
        links=links,
        by_route=sorted(by_route.items()),
        by_tag=sorted(by_tag.items()),
    )
