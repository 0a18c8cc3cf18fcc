"""What the Lettermint Team API accepts: request bodies (docs/contracts.md, 1.5) and the
``page[...]``, ``sort`` and ``include`` query keys.

Bodies are pydantic models, so FastAPI validates them and the error handler renders the one
error shape with ``errors`` per field. Booleans are JSON booleans only (``StrictBool``): a
string "false" that lax parsing would read as False could turn tracking on or off by accident.

Route settings arrive three ways, all accepted: nested in ``settings`` (the SDK's
StoreRouteData), flat at the top level (Lettermint's docs: ``PATCH /v1/routes/{id}`` with
``{"track_clicks": true}``), and, for the inbound keys, in ``inbound_settings``. The same key
given twice with different values is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StringConstraints

from ...core.errors import ApiError
from ...service.projects import RouteChanges
from .shapes import Cursor

__all__ = [
    "Paging",
    "RouteBody",
    "RouteChanges",
    "StoreProject",
    "StoreRoute",
    "UpdateProject",
    "UpdateRoute",
    "Window",
    "includes",
    "ordered",
    "paging",
    "route_changes",
    "sort_order",
    "window",
]

T = TypeVar("T")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
DeliveryMode = Literal["live", "sandbox"]
AttachmentDelivery = Literal["inline", "url"]
# Settings that are columns of their own; every other setting lives in routes.settings.
TRACKING_KEYS = ("track_opens", "track_clicks")
_FLAT_SETTINGS = ("track_opens", "track_clicks", "honeypot_link", "one_click_unsubscribe")
_INBOUND = ("inbound_domain", "inbound_spam_threshold", "attachment_delivery")


class StoreProject(BaseModel):
    name: Name
    smtp_enabled: StrictBool | None = None
    delivery_mode: DeliveryMode | None = None
    initial_routes: Literal["both", "transactional", "broadcast"] | None = None
    short_token: StrictBool | None = None  # accepted; mailbeacon's tokens are always long
    redact_email_content: StrictBool | None = None


class UpdateProject(BaseModel):
    """Every key optional; null means "leave as it is"."""

    name: Name | None = None
    smtp_enabled: StrictBool | None = None
    redact_email_content: StrictBool | None = None
    delivery_mode: DeliveryMode | None = None
    default_route_id: str | None = None


class RouteSettings(BaseModel):
    """UpdateRouteSettingsData, plus mailbeacon's ``honeypot_link``. Other keys are kept as
    given (Lettermint adds settings over time) and echoed back."""

    model_config = ConfigDict(extra="allow")

    track_opens: StrictBool | None = None
    track_clicks: StrictBool | None = None
    honeypot_link: StrictBool | None = None
    # mailbeacon's: add List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) to each copy
    one_click_unsubscribe: StrictBool | None = None
    generate_plaintext_fallback: StrictBool | None = None
    suppress_auto_responders: StrictBool | None = None
    suppress_disposable_recipients: StrictBool | None = None
    tls: Literal["opportunistic", "enforced"] | None = None
    disable_hosted_unsubscribe: StrictBool | None = None
    redact_email_content: StrictBool | None = None
    attachment_delivery: AttachmentDelivery | None = None


class InboundSettings(BaseModel):
    inbound_domain: str | None = None
    inbound_spam_threshold: StrictFloat | None = None
    attachment_delivery: AttachmentDelivery | None = None


class RouteBody(BaseModel):
    """What StoreRouteData and UpdateRouteData share."""

    settings: RouteSettings | None = None
    track_opens: StrictBool | None = None
    track_clicks: StrictBool | None = None
    honeypot_link: StrictBool | None = None
    one_click_unsubscribe: StrictBool | None = None
    inbound_settings: InboundSettings | None = None
    inbound_domain: str | None = None
    inbound_spam_threshold: StrictFloat | None = None
    attachment_delivery: AttachmentDelivery | None = None


class StoreRoute(RouteBody):
    name: Name
    route_type: Literal["transactional", "broadcast", "inbound"]
    slug: str | None = None


class UpdateRoute(RouteBody):
    """UpdateRouteData. ``slug`` and ``route_type`` are declared only to refuse them: a
    route's slug is what senders name it by, and its type decides whether it can track."""

    name: Name | None = None
    slug: str | None = None
    route_type: str | None = None


_VERB = {"track_opens": "track opens", "track_clicks": "track clicks"}


def _merge(
    sources: Iterable[tuple[str, Mapping[str, Any]]], errors: dict[str, list[str]]
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    said: dict[str, str] = {}
    for where, given in sources:
        for key, value in given.items():
            if key in merged and merged[key] != value:
                errors.setdefault(key, []).append(f"{key} contradicts {said[key]}{key}.")
            merged[key], said[key] = value, where
    return merged


def route_changes(body: RouteBody, current: Mapping[str, Any], *, inbound: bool) -> RouteChanges:
    """Apply ``body`` to a route's ``current`` settings. Raises ApiError 422 for
    contradictions and for tracking on an inbound route, which never tracks."""
    errors: dict[str, list[str]] = {}
    top = body.model_dump(exclude_unset=True)
    nested = body.settings.model_dump(exclude_unset=True) if body.settings else {}
    boxed = body.inbound_settings.model_dump(exclude_unset=True) if body.inbound_settings else {}
    given = _merge(
        [
            ("settings.", nested),
            ("", {k: v for k, v in top.items() if k in _FLAT_SETTINGS + _INBOUND}),
            ("inbound_settings.", boxed),
        ],
        errors,
    )
    if inbound:
        for key in TRACKING_KEYS:
            if given.get(key):
                errors.setdefault(key, []).append(f"An inbound route cannot {_VERB[key]}.")
    if errors:
        raise ApiError(422, next(iter(errors.values()))[0], errors=errors)
    settings = dict(current)
    for key, value in given.items():
        if key in TRACKING_KEYS:
            continue
        if value is None:  # null resets a setting to its default
            settings.pop(key, None)
        else:
            settings[key] = value
    return RouteChanges(given.get("track_opens"), given.get("track_clicks"), settings)


# --- query keys -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paging:
    size: int
    cursor: str | None


def paging(
    size: Annotated[int, Query(alias="page[size]", ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(alias="page[cursor]")] = None,
) -> Paging:
    """``page[size]`` and ``page[cursor]`` (the SDK percent-encodes the brackets; Starlette
    decodes query keys before they are matched)."""
    return Paging(size, cursor or None)


def _listed(value: str | None) -> list[str]:
    """The SDK joins lists with commas."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def sort_order(value: str | None, *, key: str, allowed: Iterable[str]) -> bool:
    """Whether the list runs newest first. Lists are ordered by their one time key (keyset
    pagination needs a stable, indexed order); the other sorts Lettermint knows are refused
    by name rather than silently ignored."""
    wanted = _listed(value)
    if not wanted:
        return key.startswith("-")
    first = wanted[0]
    if len(wanted) > 1 or first.lstrip("-") != key.lstrip("-"):
        known = ", ".join(sorted(allowed))
        raise ApiError(
            422,
            f"mailbeacon sorts this list by {key.lstrip('-')} only.",
            errors={
                "sort": [f"Use {key.lstrip('-')} or -{key.lstrip('-')} (Lettermint: {known})."]
            },
        )
    return first.startswith("-")


def includes(value: str | None, supported: Iterable[str]) -> set[str]:
    wanted = set(_listed(value))
    unknown = wanted - set(supported)
    if unknown:
        raise ApiError(
            422,
            f"Cannot include {', '.join(sorted(unknown))}.",
            errors={"include": [f"Supported: {', '.join(sorted(supported))}."]},
        )
    return wanted


def ordered(
    items: list[T], sort: str | None, keys: dict[str, Callable[[T], Any]], ident: Callable[[T], Any]
) -> list[T]:
    """Sorted by the comma-separated ``sort`` keys (``-`` for descending), ties by creation."""
    ordered = sorted(items, key=ident)
    for name in reversed([s.strip() for s in (sort or "").split(",") if s.strip()]):
        key = keys.get(name.lstrip("-"))
        if key is None:
            raise ApiError(
                422,
                f"Cannot sort by {name.lstrip('-')}.",
                errors={"sort": [f"Sort by {', '.join(keys)} (with - for descending)."]},
            )
        ordered.sort(key=key, reverse=name.startswith("-"))  # stable: earlier keys win ties
    return ordered


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    stop: int
    next_id: str | None
    prev_id: str | None


def window(ids: Sequence[str], page: Paging) -> Window:
    """Which part of an ordered list of public ids a cursor asks for."""
    start, stop = 0, page.size
    if page.cursor is not None:
        cursor = Cursor.decode(page.cursor)
        if cursor.public_id not in ids:
            raise Cursor.invalid()
        index = ids.index(cursor.public_id)
        if cursor.backwards:
            start, stop = max(0, index - page.size), index
        else:
            start, stop = index + 1, index + 1 + page.size
    stop = min(stop, len(ids))
    next_id = ids[stop - 1] if 0 < stop < len(ids) else None
    prev_id = ids[start] if 0 < start < len(ids) else None
    return Window(start, stop, next_id, prev_id)
