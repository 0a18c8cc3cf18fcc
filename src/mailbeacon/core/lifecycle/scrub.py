"""Cutting one person's address (and the names it was given with) out of what is kept: text,
bytes (raw messages), JSON documents; and the keyed hash an erasure is logged under.

The address is matched in any letter case, also with its "@" percent-encoded (``%40``, as in
a link's query string), and replaced by :data:`ERASED`; a name is matched as whole words. In
JSON, an entry ``{"email": <the address>, "name": ...}`` (a message's to, cc, bcc) loses its
name too. What is not written out literally (a body in base64, a quoted-printable line break
inside the address) is not found here: the erasure drops such bodies whole (service/erasure.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ERASED", "Scrubber", "subject_hash"]

ERASED = "[erased]"
_MIN_NAME = 3  # shorter names ("Al") would cut ordinary words: left alone


def subject_hash(key: bytes, address: str) -> str:
    """HMAC-SHA256 of the lower-case address under ``key``: the audit log can say that two
    erasures concerned the same address, and never which one."""
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()


class Scrubber:
    def __init__(self, address: str, names: Iterable[str] = ()) -> None:
        local, _, domain = address.strip().rpartition("@")
        self.address = address.strip().lower()
        alternatives = [re.escape(local) + "(?:@|%40)" + re.escape(domain)]
        alternatives += [
            r"\b" + re.escape(name.strip()) + r"\b"
            for name in sorted(set(names), key=len, reverse=True)
            if len(name.strip()) >= _MIN_NAME
        ]
        pattern = "|".join(alternatives)
        self._text = re.compile(pattern, re.IGNORECASE)
        self._bytes = re.compile(pattern.encode(), re.IGNORECASE)

    def is_address(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip().lower() == self.address

    def text(self, value: str) -> str:
        return self._text.sub(ERASED, value)

    def bytes(self, value: bytes) -> bytes:
        return self._bytes.sub(ERASED.encode(), value)

    def json(self, value: Any) -> Any:
        """A JSON document (as parsed) with the address and names cut out of every string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            if self.is_address(value.get("email")):
                value = {**value, "name": None} if "name" in value else dict(value)
            return {self.text(k): self.json(v) for k, v in value.items()}
        return value

    def any(self, value: Any) -> Any:
        """Whatever a column holds: text, bytes, a JSON document, or something without words
        (a number, None), unchanged."""
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.bytes(bytes(value))
        return self.json(value)
