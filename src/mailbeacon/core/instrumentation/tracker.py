"""The tracking URLs of one recipient's copy of a message."""

from __future__ import annotations

from datetime import date

from .linkrules import host_of
from .tokens import Purpose, TokenCodec

__all__ = ["CLICK_PATH", "OPEN_PATH", "UNSUBSCRIBE_PATH", "CopyTracker", "check_base_url"]

CLICK_PATH = "/c/"  # clicks and the honeypot: a honeypot link looks like any other link
OPEN_PATH = "/o/"
UNSUBSCRIBE_PATH = "/u/"  # one-click unsubscribe (RFC 8058): not the redirect path's


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; ValueError unless it is an absolute http(s) URL
    without query or fragment."""
    base = base_url.rstrip("/")
    if host_of(base) is None or "?" in base or "#" in base:
        raise ValueError(f"tracking base URL must look like https://host[/path], got {base_url!r}")
    return base


class CopyTracker:
    """Mints the click, open and honeypot URLs of the copy ``copy_id``, issued on ``issued``."""

    __slots__ = (
        "_audience",
        "_click",
        "_click_prefix",
        "base_url",
        "codec",
        "copy_id",
        "host",
        "issued",
    )

    def __init__(
        self,
        codec: TokenCodec,
        base_url: str,
        copy_id: int,
        issued: date,
        *,
        audience: bytes = b"",
    ) -> None:
        self.codec = codec
        self.base_url = check_base_url(base_url)
        host = host_of(self.base_url)
        assert host is not None
        self.host = host
        self.copy_id = copy_id
        self.issued = issued
        self._audience = audience
        self._click = codec.minter(Purpose.CLICK, copy_id, issued=issued, audience=audience)
        self._click_prefix = self.base_url + CLICK_PATH

    def click_url(self, link_index: int) -> str:
        return self._click_prefix + self._click.token(link_index)

    def open_url(self) -> str:
        return self.base_url + OPEN_PATH + self._token(Purpose.OPEN)

    def honeypot_url(self) -> str:
        return self._click_prefix + self._token(Purpose.HONEYPOT)

    def unsubscribe_url(self) -> str:
        return self.base_url + UNSUBSCRIBE_PATH + self._token(Purpose.UNSUBSCRIBE)

    def _token(self, purpose: Purpose) -> str:
        return self.codec.issue(purpose, self.copy_id, issued=self.issued, audience=self._audience)
