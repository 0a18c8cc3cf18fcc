"""Short, signed, expiring tracking tokens.

A token names one recipient's copy of a message (``copy_id``), the link clicked (``link_index``,
0 for opens) and the day it was issued, in 32 URL-safe characters::

    version (1 byte) | key id (1) | sealed(day (2) | copy id (6) | link index (2)) | tag (12)

- The tag is HMAC-SHA256 over the audience, the header and the plain fields, cut to 96 bits.
  Keys are derived per purpose (open, click, honeypot) from the keyring's secret, so a token
  minted for one purpose never verifies as another.
- The fields are sealed with a keystream derived from the tag (HMAC-SHA256 under a second
  key: a synthetic-IV construction): a token shows no copy ids, no sending volume and no link
  position, so a honeypot link looks like any other link. Exactly one string is valid for a
  payload: 24 bytes are 32 base64 characters with no padding and no spare bits.
- The key id lets keys rotate: the keyring's first key signs, every key verifies.
- ``audience`` (optional) binds a token to a tenant without storing anything in it: a token
  presented under another audience fails like a forgery, with no database work.

Verification distinguishes a forgery (:class:`~mailbeacon.core.errors.ForgedToken`) from an
authentic token past its lifetime (``Verified.expired``), which callers still redirect.

Speed matters twice: minting runs once per link of every recipient's copy, verifying once per
hit. HMAC is computed from precomputed inner and outer pad states (the textbook optimisation;
the tests check it equals :func:`hmac.digest`), in C when the ``_mint`` accelerator is built
and by :class:`PurposeKeyReference` otherwise.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..errors import ForgedToken, KeyringError

try:
    # CPython's own SHA-256: OpenSSL 3's (hashlib's default) pays a provider lookup per object,
    # which makes each of our one-block hashes ~40% slower.
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - other interpreters
    _sha256 = hashlib.sha256

__all__ = [
    "DEFAULT_LIFETIME_DAYS",
    "MAX_COPY_ID",
    "MAX_LINK_INDEX",
    "TOKEN_LENGTH",
    "Claims",
    "CopyMinter",
    "Keyring",
    "Purpose",
    "PurposeKeyReference",
    "TokenCodec",
    "Verified",
]

VERSION = 1
EPOCH = date(2020, 1, 1)
DEFAULT_LIFETIME_DAYS = 30
TAG_BYTES = 12  # 96 bits
_FIELDS_BYTES = 10  # day (2) + copy id (6) + link index (2)
_RAW_BYTES = 2 + _FIELDS_BYTES + TAG_BYTES  # 24: a multiple of 3, so base64 has no padding
TOKEN_LENGTH = _RAW_BYTES * 4 // 3  # 32 characters
MAX_COPY_ID = (1 << 48) - 1
MAX_LINK_INDEX = (1 << 16) - 1
MIN_SECRET_BYTES = 32
_ALPHABET = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


class Purpose(enum.Enum):
    OPEN = "open"
    CLICK = "click"
    HONEYPOT = "honeypot"
    UNSUBSCRIBE = "unsubscribe"  # the copy's one-click unsubscribe URL (RFC 8058)
    BOUNCE = "bounce"  # the copy's VERP return path (core/bounces/verp.py)

    # Members are singletons compared by identity, so identity hashing is consistent with
    # Enum's equality, and it is C's: Enum's own __hash__ (hash of the name) is a Python call,
    # paid in every dict lookup of a click's token check.
    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class Claims:
    """What an authentic token says."""

    purpose: Purpose
    copy_id: int
    link_index: int
    issued: date
    key_id: int


@dataclass(frozen=True, slots=True)
class Verified:
    claims: Claims
    expired: bool


class PurposeKeyReference:
    """HMAC-SHA256 for one purpose of one signing key: the pure-Python reference of the C
    accelerator ``_mint.PurposeKey`` (same methods, same results)."""

    __slots__ = ("_mac_inner", "_mac_outer", "_seal_inner", "_seal_outer")

    def __init__(self, mac_key: bytes, seal_key: bytes) -> None:
        self._mac_inner, self._mac_outer = _pads(mac_key)
        self._seal_inner, self._seal_outer = _pads(seal_key)

    def mint(self, header: bytes, shared: bytes, audience: bytes, link_index: int) -> str:
        if len(header) != 2 or len(shared) != 8 or len(audience) > 255:
            raise ValueError("mint(): bad header, fields, audience or link index")
        fields = shared + link_index.to_bytes(2, "big")
        tag = self._tag(header, fields, audience)
        raw = header + _xor(fields, self._keystream(tag)) + tag
        return binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE).decode("ascii")

    def check(self, raw: bytes, audience: bytes) -> bytes | None:
        if len(raw) != _RAW_BYTES or len(audience) > 255:
            raise ValueError("check(): bad token length or audience")
        tag = raw[2 + _FIELDS_BYTES :]
        fields = _xor(raw[2 : 2 + _FIELDS_BYTES], self._keystream(tag))
        if hmac.compare_digest(tag, self._tag(raw[:2], fields, audience)):
            return fields
        return None

    def _tag(self, header: bytes, fields: bytes, audience: bytes) -> bytes:
        message = bytes((len(audience),)) + audience + header + fields
        return _finish(self._mac_inner, self._mac_outer, message)[:TAG_BYTES]

    def _keystream(self, tag: bytes) -> bytes:
        return _finish(self._seal_inner, self._seal_outer, tag)[:_FIELDS_BYTES]


def _pads(key: bytes) -> tuple[Any, Any]:
    block = key.ljust(64, b"\0")  # derived keys are 32 bytes: shorter than one block
    return _sha256(bytes(b ^ 0x36 for b in block)), _sha256(bytes(b ^ 0x5C for b in block))


def _finish(inner_state: Any, outer_state: Any, message: bytes) -> bytes:
    inner = inner_state.copy()
    inner.update(message)
    outer = outer_state.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


try:
    from ._mint import PurposeKey as _PurposeKey
except ImportError:  # pragma: no cover - built wherever a compiler and OpenSSL headers exist
    ACCELERATED = False
    _PurposeKey = PurposeKeyReference  # type: ignore[misc,assignment]
else:
    ACCELERATED = True


def _derive(secret: bytes, use: bytes, purpose: Purpose) -> bytes:
    label = b"mailbeacon/token/v1/" + use + b"/" + purpose.value.encode()
    return hmac.digest(secret, label, "sha256")


class Keyring:
    """Signing secrets by key id (0-255). The first key signs new tokens; all keys verify.

    To rotate: put a new key first, keep the old one until its tokens have expired.
    """

    def __init__(self, keys: Iterable[tuple[int, bytes]], *, setting: str = "keyring") -> None:
        self._keys: dict[tuple[int, Purpose], _PurposeKey] = {}
        order: list[int] = []
        for key_id, secret in keys:
            if not 0 <= key_id <= 255:
                raise KeyringError(
                    f"{setting}: key id {key_id} is not between 0 and 255", variable=setting
                )
            if key_id in order:
                raise KeyringError(f"{setting}: key id {key_id} appears twice", variable=setting)
            if len(secret) < MIN_SECRET_BYTES:
                raise KeyringError(
                    f"{setting}: the secret of key {key_id} is shorter than "
                    f"{MIN_SECRET_BYTES} bytes; generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
                    variable=setting,
                )
            order.append(key_id)
            for purpose in Purpose:
                self._keys[key_id, purpose] = _PurposeKey(
                    _derive(secret, b"mac", purpose), _derive(secret, b"seal", purpose)
                )
        if not order:
            raise KeyringError(f"{setting}: at least one signing key is required", variable=setting)
        self.signing_key_id = order[0]
        self.key_ids = tuple(order)

    @classmethod
    def parse(cls, spec: str, *, setting: str = "MAILBEACON_SIGNING_KEYS") -> Keyring:
        """Parse ``"id:secret,id:secret"`` (newest first); a bare secret is key id 0."""
        keys: list[tuple[int, bytes]] = []
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            key_id, sep, secret = entry.partition(":")
            if not sep:
                key_id, secret = "0", entry
            if not key_id.isdigit():
                raise KeyringError(
                    f"{setting}: {key_id!r} is not a numeric key id (id:secret)", variable=setting
                )
            keys.append((int(key_id), secret.encode()))
        return cls(keys, setting=setting)

    @classmethod
    def ephemeral(cls) -> Keyring:
        """A random single-key keyring: its tokens stop verifying when it is gone (demos)."""
        return cls([(0, secrets.token_bytes(32))])

    def _for(self, key_id: int, purpose: Purpose) -> _PurposeKey | None:
        return self._keys.get((key_id, purpose))


def day_number(day: date) -> int:
    """Days since the token calendar's epoch, as tokens carry them."""
    return (day - EPOCH).days


def _day_number(issued: date) -> int:
    day = (issued - EPOCH).days
    if not 0 <= day <= 0xFFFF:
        raise ValueError(f"issue date {issued} is outside the token calendar")
    return day


class CopyMinter:
    """Mints the tokens of one purpose for one copy on one day."""

    __slots__ = ("_audience", "_header", "_key", "_shared")

    def __init__(
        self, keyring: Keyring, purpose: Purpose, copy_id: int, issued: date, audience: bytes
    ) -> None:
        if not 0 <= copy_id <= MAX_COPY_ID:
            raise ValueError(f"copy_id {copy_id} does not fit in 48 bits")
        if len(audience) > 255:
            raise ValueError("audience is longer than 255 bytes")
        key = keyring._for(keyring.signing_key_id, purpose)
        assert key is not None
        self._key = key
        self._header = bytes((VERSION, keyring.signing_key_id))
        self._shared = _day_number(issued).to_bytes(2, "big") + copy_id.to_bytes(6, "big")
        self._audience = audience

    def token(self, link_index: int = 0) -> str:
        if not 0 <= link_index <= MAX_LINK_INDEX:
            raise ValueError(f"link_index {link_index} does not fit in 16 bits")
        return self._key.mint(self._header, self._shared, self._audience, link_index)


class TokenCodec:
    """Issues and verifies tokens with a keyring and a lifetime (in days)."""

    def __init__(self, keyring: Keyring, *, lifetime_days: int = DEFAULT_LIFETIME_DAYS) -> None:
        if lifetime_days < 1:
            raise ValueError("lifetime_days must be at least 1")
        self.keyring = keyring
        self.lifetime = timedelta(days=lifetime_days)

    def minter(
        self, purpose: Purpose, copy_id: int, *, issued: date, audience: bytes = b""
    ) -> CopyMinter:
        return CopyMinter(self.keyring, purpose, copy_id, issued, audience)

    def issue(
        self,
        purpose: Purpose,
        copy_id: int,
        link_index: int = 0,
        *,
        issued: date,
        audience: bytes = b"",
    ) -> str:
        return self.minter(purpose, copy_id, issued=issued, audience=audience).token(link_index)

    def check(
        self, purpose: Purpose, token: str, audience: bytes = b""
    ) -> tuple[int, int, int] | None:
        """The redirect path's :meth:`verify`: (copy id, link index, issue day number) of an
        authentic token, or None; no objects made. Expired when ``day_number(today) - issue
        day > lifetime_days``."""
        if len(token) != TOKEN_LENGTH or not _ALPHABET.fullmatch(token):
            return None
        raw = binascii.a2b_base64(token.encode("ascii").translate(_FROM_URLSAFE))
        if raw[0] != VERSION or len(audience) > 255:
            return None
        keys = self.keyring._for(raw[1], purpose)
        if keys is None:
            return None
        fields = keys.check(raw, audience)
        if fields is None:
            return None
        day = fields[0] << 8 | fields[1]
        return int.from_bytes(fields[2:8], "big"), fields[8] << 8 | fields[9], day

    @property
    def lifetime_days(self) -> int:
        return self.lifetime.days

    def verify(
        self, purpose: Purpose, token: str, *, today: date, audience: bytes = b""
    ) -> Verified:
        """Check ``token``; raise :class:`ForgedToken` unless it is authentic.

        The tag comparison is constant-time; length, alphabet, version and key id are public.
        """
        if len(token) != TOKEN_LENGTH or not _ALPHABET.fullmatch(token):
            raise ForgedToken("malformed")
        raw = binascii.a2b_base64(token.encode("ascii").translate(_FROM_URLSAFE))
        if raw[0] != VERSION:
            raise ForgedToken("unknown version")
        keys = self.keyring._for(raw[1], purpose)
        if keys is None:
            raise ForgedToken("unknown key")
        if len(audience) > 255:
            raise ForgedToken("audience too long")
        fields = keys.check(raw, audience)
        if fields is None:
            raise ForgedToken("bad tag")
        issued = EPOCH + timedelta(days=int.from_bytes(fields[0:2], "big"))
        claims = Claims(
            purpose=purpose,
            copy_id=int.from_bytes(fields[2:8], "big"),
            link_index=int.from_bytes(fields[8:10], "big"),
            issued=issued,
            key_id=raw[1],
        )
        return Verified(claims, expired=today - issued > self.lifetime)


def reference_tag(secret: bytes, purpose: Purpose, message: bytes) -> bytes:
    """The tag by :func:`hmac.digest`: what the precomputed-state path must equal (tests)."""
    return hmac.digest(_derive(secret, b"mac", purpose), message, "sha256")[:TAG_BYTES]
