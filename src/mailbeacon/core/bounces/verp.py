"""VERP return paths: each copy's MAIL FROM names it, so a bounce that comes back days later,
in whatever form, says whose it is.

``bounce+<token>@<bounce domain>``: the token is a signed one (core/instrumentation/tokens.py,
purpose ``bounce``), so a forged bounce address names no copy and costs no database work.
Its 32 characters are URL-safe base64, which a local part may hold as it is (RFC 5321
4.1.2 dot-string); letter case matters, and mail systems keep a local part's case (RFC 5321
2.4).
"""

from __future__ import annotations

from datetime import date

from ..errors import ForgedToken
from ..instrumentation.tokens import Purpose, TokenCodec

__all__ = ["PREFIX", "copy_of", "is_ours", "return_path"]

PREFIX = "bounce+"


def return_path(codec: TokenCodec, copy_id: int, issued: date, domain: str) -> str:
    """The VERP address of copy ``copy_id``."""
    return f"{PREFIX}{codec.issue(Purpose.BOUNCE, copy_id, issued=issued)}@{domain}"


def is_ours(address: str, domain: str) -> bool:
    """Whether ``address`` is a return path of the bounce domain (signed or not)."""
    local, _, host = address.rpartition("@")
    return host.lower() == domain.lower() and local.startswith(PREFIX)


def copy_of(codec: TokenCodec, address: str, domain: str) -> int | None:
    """The copy a return path names; None for an address that is not an authentic one.
    An old copy's bounce still counts: the token's age does not matter here."""
    if not is_ours(address, domain):
        return None
    token = address.rpartition("@")[0][len(PREFIX) :]
    try:
        verified = codec.verify(Purpose.BOUNCE, token, today=date.max)
    except ForgedToken:
        return None
    return verified.claims.copy_id
