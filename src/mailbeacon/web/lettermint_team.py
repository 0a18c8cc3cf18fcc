"""Lettermint's Team API under /v1: projects, routes, messages (team token)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["Lettermint Team API"])
