"""Who mail is not sent to, and whose copies are not tracked: the rules, kept pure.

A suppression names an address (kept in lower case: mailbox names are matched without regard
to letter case, as every provider does), a reason, where it applies and to which mail, in
Lettermint's vocabulary (``lettermint/_generated/types.py``: StoreSuppressionData,
SuppressedRecipientData):

============  ==========================================================================
reason        ``unsubscribe`` (the recipient asked: RFC 8058 one-click), ``hard_bounce``
              (a permanent delivery failure about the address), ``spam_complaint``,
              ``manual`` (the sender's own); ``complaint`` is read as ``spam_complaint``
scope         ``team`` (every project), ``project``, ``route``
applies_to    ``all`` (every message) or ``broadcast`` (broadcast mail only)
============  ==========================================================================

Transactional mail (a transactional route, and for Lettr's API a message sent with
``transactional: true``) is blocked only by what makes sending pointless or harmful: hard
bounces, complaints and suppressions of all mail; an unsubscribe or a broadcast-only
suppression leaves it alone (:func:`blocks`). That is what gives Lettr's transactional flag
its effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "APPLIES_TO",
    "REASONS",
    "SCOPES",
    "Suppression",
    "applies_to_for",
    "blocking",
    "blocks",
    "normal_address",
    "scope_key",
]

# Every spelling accepted on the way in, to the reason stored.
REASONS: Mapping[str, str] = MappingProxyType(
    {
        "unsubscribe": "unsubscribe",
        "hard_bounce": "hard_bounce",
        "spam_complaint": "spam_complaint",
        "complaint": "spam_complaint",
        "manual": "manual",
    }
)
SCOPES = ("team", "project", "route")
APPLIES_TO = ("all", "broadcast")
# What blocks transactional mail whatever its applies_to: sending to it again harms the
# sender's reputation (RFC 5321 6.1's "the address does not exist"; a complaint).
_BLOCK_TRANSACTIONAL = frozenset({"hard_bounce", "spam_complaint"})


@dataclass(frozen=True, slots=True)
class Suppression:
    public_id: str
    value: str  # the address, lower case
    reason: str
    scope: str
    applies_to: str
    project_id: int | None  # projects.id (project and route scopes)
    route_id: int | None  # routes.id (route scope)


def normal_address(address: str) -> str:
    """The form addresses are kept and compared in."""
    return address.strip().lower()


def scope_key(scope: str, project_id: int | None, route_id: int | None) -> str:
    """One column naming where a suppression applies, so the store's unique key has no NULLs."""
    if scope == "route":
        return f"route:{route_id}"
    if scope == "project":
        return f"project:{project_id}"
    return "team"


def applies_to_for(reason: str, given: str | None) -> str:
    """A suppression's mail category when the request names none: Lettermint's manual
    suppressions block all mail; an unsubscribe is from broadcast mail."""
    if given is not None:
        return given
    return "broadcast" if reason == "unsubscribe" else "all"


def blocks(
    suppression: Suppression, *, project_id: int, route_id: int | None, transactional: bool
) -> bool:
    """Whether ``suppression`` stops a message of this project and route."""
    if suppression.scope == "project" and suppression.project_id != project_id:
        return False
    if suppression.scope == "route" and suppression.route_id != route_id:
        return False
    if not transactional:
        return True
    return suppression.reason in _BLOCK_TRANSACTIONAL or (
        suppression.applies_to == "all" and suppression.reason != "unsubscribe"
    )


def blocking(
    found: Iterable[Suppression], *, project_id: int, route_id: int | None, transactional: bool
) -> dict[str, Suppression]:
    """The first suppression that stops each address (by its normal form), of ``found``."""
    stopped: dict[str, Suppression] = {}
    for suppression in found:
        if suppression.value not in stopped and blocks(
            suppression, project_id=project_id, route_id=route_id, transactional=transactional
        ):
            stopped[suppression.value] = suppression
    return stopped
