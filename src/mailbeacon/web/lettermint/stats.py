"""GET /v1/stats: sending and engagement counters per day, from the daily rollups.

The Lettermint shape (docs/contracts.md, StatsData) plus mailbeacon's own counters. What the
engagement counters mean:

- ``opened`` / ``clicked``: events that count for metrics (people, and the image proxies of
  Gmail and Yahoo, which fetch only when a person opens; never Apple MPP, which fetches
  whether or not anyone reads: README, "Telling people from machines"); with
  ``include_machine=1`` machine events are added;
- ``unique_opened`` / ``unique_clicked``: recipients whose first such event fell on that day;
- ``effective_opened``: recipients who opened *or* clicked (a click means the message was read,
  even when images were blocked), counted once;
- ``human_opened`` (classified genuine), ``privacy_opened`` (every privacy-proxy open: image
  proxies, which count, and Apple MPP, which does not), ``observed_opened`` (the two
  together), ``machine_opened``, ``machine_clicked`` (the verdict's machine flag: Apple MPP
  included).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from ...core.errors import ApiError
from ...store import rollups, tenancy
from ..auth import team
from ..services import services_of

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Team API"])

MAX_DAYS = 366


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ApiError(
            422,
            f"The {name} field must be a date (YYYY-MM-DD).",
            errors={name: ["Use a date: YYYY-MM-DD."]},
        ) from None


@router.get("/stats", summary="Sending and engagement statistics")
def stats(
    request: Request,
    caller: Annotated[tenancy.Team, Depends(team)],
    start: Annotated[str, Query(alias="from")],
    end: Annotated[str, Query(alias="to")],
    project_id: str | None = None,
    route_id: str | None = None,
    tag: str | None = None,
    include_machine: Annotated[str, Query()] = "0",
) -> dict[str, Any]:
    first, last = _day(start, "from"), _day(end, "to")
    if last < first:
        raise ApiError(
            422,
            "The to date must not be before the from date.",
            errors={"to": ["Must be on or after from."]},
        )
    if (last - first).days >= MAX_DAYS:
        raise ApiError(
            422,
            f"Ask for at most {MAX_DAYS} days at once.",
            errors={"to": [f"At most {MAX_DAYS} days after from."]},
        )
    machine = include_machine.lower() in ("1", "true", "yes")
    services = services_of(request)
    with services.db.read() as conn:
        projects = tenancy.list_projects(conn, caller.id)
        if project_id is not None:
            projects = [p for p in projects if p.public_id == project_id]
            if not projects:
                raise ApiError(404, "No such project.")
        route = None
        if route_id is not None:
            route = tenancy.route_for_team(conn, caller.id, route_id)
            if route is None or route.project_id not in {p.id for p in projects}:
                raise ApiError(404, "No such route.")
        days = rollups.read(
            conn,
            [p.id for p in projects],
            first,
            last,
            route_id=route.id if route else None,
            tag=tag,
        )
    daily = []
    totals: dict[str, int] = dict.fromkeys(rollups.COUNTERS, 0)
    for offset in range((last - first).days + 1):
        day = (first + timedelta(days=offset)).isoformat()
        counts = days.get(day, {})
        for name in rollups.COUNTERS:
            totals[name] += counts.get(name, 0)
        daily.append({"date": day, **_shape(counts, machine)})
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "totals": _shape(totals, machine),
        "daily": daily,
    }


def _shape(counts: Mapping[str, int], include_machine: bool) -> dict[str, Any]:
    def get(name: str) -> int:
        return int(counts.get(name, 0))

    opened, clicked = get("opened"), get("clicked")
    unique_opened, unique_clicked = get("unique_opened"), get("unique_clicked")
    if include_machine:
        opened += get("machine_opened")
        clicked += get("machine_clicked")
        unique_opened, unique_clicked = get("unique_any_opened"), get("unique_any_clicked")
    return {
        "sent": get("sent"),
        "delivered": get("sent"),  # handed to the upstream: what mailbeacon can know
        "failed": get("failed"),
        # the upstream's 5xx refusals and bounces that came back to a VERP return path
        "hard_bounced": get("hard_bounced"),
        "spam_complaints": 0,
        "opened": opened,
        "unique_opened": unique_opened,
        "clicked": clicked,
        "unique_clicked": unique_clicked,
        "effective_opened": get("effective_opened"),
        "observed_opened": get("human_opened") + get("privacy_opened"),
        "human_opened": get("human_opened"),
        "privacy_opened": get("privacy_opened"),
        "machine_opened": get("machine_opened"),
        "machine_clicked": get("machine_clicked"),
        "inbound": {"received": 0},
    }
