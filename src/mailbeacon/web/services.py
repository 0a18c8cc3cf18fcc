"""Reaching the composition root's services from a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from ..service.context import Services

__all__ = ["services_of"]


def services_of(request: Request) -> Services:
    return cast("Services", request.app.state.services)
