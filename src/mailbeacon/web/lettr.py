"""Lettr's API under /api: sending email."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["Lettr API"])
