"""Tokens: short, URL-safe, one string per payload, forgeries and tampering always rejected."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbeacon.core.errors import ForgedToken, KeyringError
from mailbeacon.core.instrumentation import tokens
from mailbeacon.core.instrumentation.tokens import (
    MAX_COPY_ID,
    MAX_LINK_INDEX,
    TOKEN_LENGTH,
    Keyring,
    Purpose,
    PurposeKeyReference,
    TokenCodec,
)

SECRET = "k" * 40
TODAY = date(2026, 11, 23)
CODEC = TokenCodec(Keyring.parse(f"7:{SECRET}"))
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

copy_ids = st.integers(0, MAX_COPY_ID)
link_indexes = st.integers(0, MAX_LINK_INDEX)
purposes = st.sampled_from(list(Purpose))
audiences = st.binary(max_size=20)


@given(purposes, copy_ids, link_indexes, audiences)
def test_every_token_decodes_to_what_was_encoded(
    purpose: Purpose, copy_id: int, link_index: int, audience: bytes
) -> None:
    token = CODEC.issue(purpose, copy_id, link_index, issued=TODAY, audience=audience)
    assert len(token) == TOKEN_LENGTH == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    verified = CODEC.verify(purpose, token, today=TODAY, audience=audience)
    assert (verified.claims.copy_id, verified.claims.link_index) == (copy_id, link_index)
    assert verified.claims.issued == TODAY
    assert verified.claims.key_id == 7
    assert not verified.expired


@given(copy_ids, link_indexes, st.integers(0, TOKEN_LENGTH - 1), st.data())
def test_any_changed_character_is_rejected(
    copy_id: int, link_index: int, position: int, data: st.DataObject
) -> None:
    token = CODEC.issue(Purpose.CLICK, copy_id, link_index, issued=TODAY)
    other = data.draw(st.sampled_from([c for c in ALPHABET if c != token[position]]))
    tampered = token[:position] + other + token[position + 1 :]
    with pytest.raises(ForgedToken):
        CODEC.verify(Purpose.CLICK, tampered, today=TODAY)


@given(copy_ids, st.integers(0, TOKEN_LENGTH - 1), st.integers(0, 7))
def test_any_flipped_bit_is_rejected(copy_id: int, byte: int, bit: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(CODEC.issue(Purpose.OPEN, copy_id, issued=TODAY)))
    raw[byte % len(raw)] ^= 1 << bit
    with pytest.raises(ForgedToken):
        CODEC.verify(Purpose.OPEN, base64.urlsafe_b64encode(bytes(raw)).decode(), today=TODAY)


@given(copy_ids, link_indexes, st.integers(1, TOKEN_LENGTH - 1))
def test_truncated_and_extended_tokens_are_rejected(copy_id: int, index: int, cut: int) -> None:
    token = CODEC.issue(Purpose.CLICK, copy_id, index, issued=TODAY)
    for variant in (token[:cut], token + "A", token + "=", token + "==", " " + token):
        with pytest.raises(ForgedToken):
            CODEC.verify(Purpose.CLICK, variant, today=TODAY)


@given(copy_ids, link_indexes)
def test_re_encodings_of_the_same_bytes_are_rejected(copy_id: int, index: int) -> None:
    """Exactly one string is valid: standard base64, padding or other case never verify."""
    token = CODEC.issue(Purpose.CLICK, copy_id, index, issued=TODAY)
    raw = base64.urlsafe_b64decode(token)
    variants = {
        base64.b64encode(raw).decode(),  # "+" and "/" instead of "-" and "_"
        token.swapcase(),
        token.replace("-", "+").replace("_", "/"),
        token + "\n",
    } - {token}
    for variant in variants:
        with pytest.raises(ForgedToken):
            CODEC.verify(Purpose.CLICK, variant, today=TODAY)


@given(copy_ids, link_indexes)
def test_a_token_of_one_purpose_never_verifies_as_another(copy_id: int, index: int) -> None:
    token = CODEC.issue(Purpose.CLICK, copy_id, index, issued=TODAY)
    for purpose in (Purpose.OPEN, Purpose.HONEYPOT):
        with pytest.raises(ForgedToken):
            CODEC.verify(purpose, token, today=TODAY)


def test_a_token_under_another_audience_is_forged() -> None:
    token = CODEC.issue(Purpose.CLICK, 5, 1, issued=TODAY, audience=b"p1")
    CODEC.verify(Purpose.CLICK, token, today=TODAY, audience=b"p1")
    for audience in (b"", b"p2", b"p1 "):
        with pytest.raises(ForgedToken):
            CODEC.verify(Purpose.CLICK, token, today=TODAY, audience=audience)


def test_another_keyring_rejects_the_token() -> None:
    token = CODEC.issue(Purpose.CLICK, 5, 1, issued=TODAY)
    stranger = TokenCodec(Keyring.parse(f"7:{'z' * 40}"))
    with pytest.raises(ForgedToken):
        stranger.verify(Purpose.CLICK, token, today=TODAY)


def test_expiry_is_authentic_but_flagged_after_the_lifetime() -> None:
    codec = TokenCodec(Keyring.parse(f"1:{SECRET}"), lifetime_days=30)
    token = codec.issue(Purpose.CLICK, 9, 2, issued=TODAY)
    assert not codec.verify(Purpose.CLICK, token, today=TODAY + timedelta(days=30)).expired
    late = codec.verify(Purpose.CLICK, token, today=TODAY + timedelta(days=31))
    assert late.expired
    assert late.claims.copy_id == 9


def test_keys_rotate_newest_signs_all_verify() -> None:
    old = TokenCodec(Keyring.parse(f"1:{'a' * 40}"))
    rotated = TokenCodec(Keyring.parse(f"2:{'b' * 40},1:{'a' * 40}"))
    old_token = old.issue(Purpose.OPEN, 3, issued=TODAY)
    new_token = rotated.issue(Purpose.OPEN, 3, issued=TODAY)
    assert rotated.verify(Purpose.OPEN, old_token, today=TODAY).claims.key_id == 1
    assert rotated.verify(Purpose.OPEN, new_token, today=TODAY).claims.key_id == 2
    retired = TokenCodec(Keyring.parse(f"2:{'b' * 40}"))
    with pytest.raises(ForgedToken, match="unknown key"):
        retired.verify(Purpose.OPEN, old_token, today=TODAY)


def test_tokens_hide_their_fields() -> None:
    """Sealed: consecutive links of one copy share no visible field bytes beyond the header."""
    a = base64.urlsafe_b64decode(CODEC.issue(Purpose.CLICK, 1, 0, issued=TODAY))
    b = base64.urlsafe_b64decode(CODEC.issue(Purpose.CLICK, 1, 1, issued=TODAY))
    assert a[:2] == b[:2]  # version and key id are public
    assert sum(x == y for x, y in zip(a[2:12], b[2:12], strict=True)) < 5


@given(purposes, copy_ids, link_indexes, audiences)
def test_the_accelerator_equals_the_reference(
    purpose: Purpose, copy_id: int, index: int, audience: bytes
) -> None:
    mac, seal = secrets.token_bytes(32), secrets.token_bytes(32)
    reference = PurposeKeyReference(mac, seal)
    fast = tokens._PurposeKey(mac, seal)
    header, shared = bytes((1, 3)), secrets.token_bytes(8)
    token = reference.mint(header, shared, audience, index)
    assert fast.mint(header, shared, audience, index) == token
    raw = base64.urlsafe_b64decode(token)
    assert (
        fast.check(raw, audience)
        == reference.check(raw, audience)
        == shared + bytes((index >> 8, index & 255))
    )


def test_the_tag_is_hmac_sha256() -> None:
    """The precomputed-pad path computes exactly HMAC-SHA256 (checked against hmac.digest)."""
    secret = SECRET.encode()
    token = CODEC.issue(Purpose.CLICK, 77, 4, issued=TODAY)
    raw = base64.urlsafe_b64decode(token)
    fields = CODEC.keyring._for(7, Purpose.CLICK).check(raw, b"")  # type: ignore[union-attr]
    assert fields is not None
    message = bytes((0,)) + raw[:2] + fields
    assert raw[12:] == tokens.reference_tag(secret, Purpose.CLICK, message)


def test_the_accelerator_is_built() -> None:
    import os

    if os.environ.get("CI") == "true":
        assert tokens.ACCELERATED


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "at least one signing key"),
        ("1:short", "shorter than 32 bytes"),
        (f"300:{SECRET}", "between 0 and 255"),
        (f"1:{SECRET},1:{SECRET}", "appears twice"),
        (f"x:{SECRET}", "not a numeric key id"),
    ],
)
def test_bad_keyrings_name_the_setting(spec: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as info:
        Keyring.parse(spec)
    assert "MAILBEACON_SIGNING_KEYS" in str(info.value)


def test_out_of_range_payloads_are_refused() -> None:
    with pytest.raises(ValueError, match="48 bits"):
        CODEC.issue(Purpose.CLICK, MAX_COPY_ID + 1, issued=TODAY)
    with pytest.raises(ValueError, match="16 bits"):
        CODEC.issue(Purpose.CLICK, 1, MAX_LINK_INDEX + 1, issued=TODAY)
    with pytest.raises(ValueError, match="calendar"):
        CODEC.issue(Purpose.CLICK, 1, issued=date(2019, 12, 31))
