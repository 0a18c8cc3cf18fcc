"""Templates: one Jinja2 environment, autoescaped, loaded from the package's templates/.

Pages prepare their data in Python and hand the template plain values; templates only lay
them out (datasette's way). Every page gets the viewer, the CSRF token and the navigation.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["NAVIGATION", "render", "templates"]

HERE = Path(__file__).parent

NAVIGATION = (
    ("overview", "Overview", "/dashboard/"),
    ("messages", "Messages", "/dashboard/messages"),
    ("routes", "Routes", "/dashboard/routes"),
    ("webhooks", "Webhooks", "/dashboard/webhooks"),
    ("domains", "Tracking domains", "/dashboard/domains"),
    ("live", "Live", "/dashboard/live"),
)

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a missing value is a bug in the page, not an empty cell
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(value: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return value.astimezone(zone).strftime(fmt) if value is not None else "—"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


templates.filters["percent"] = _percent


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    zone: ZoneInfo = getattr(request.state, "zone", ZoneInfo("UTC"))
    context.setdefault("page_name", "")
    page = templates.get_template(name).render(
        viewer=viewer,
        csrf=viewer.csrf_token if viewer else getattr(request.state, "login_csrf", ""),
        navigation=NAVIGATION,
        zone=zone.key,
        local=lambda value, fmt="%Y-%m-%d %H:%M:%S": _local(value, zone, fmt),
        **context,
    )
    return HTMLResponse(page, status_code=status_code)
