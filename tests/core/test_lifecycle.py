"""core/lifecycle: an address cut out of what is kept, and links' destinations after sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.core.errors import Refused
from mailbeacon.core.lifecycle.destinations import destination_at, new_destination
from mailbeacon.core.lifecycle.scrub import ERASED, Scrubber, subject_hash


def test_the_address_is_cut_out_in_any_letter_case_and_percent_encoded() -> None:
    scrub = Scrubber("ann.smith@example.org")
    assert scrub.text("to ANN.Smith@Example.ORG.") == f"to {ERASED}."
    assert scrub.text("?email=ann.smith%40example.org&x=1") == f"?email={ERASED}&x=1"
    assert scrub.text("annXsmith@example.org") == "annXsmith@example.org"  # dots are literal
    assert scrub.bytes(b"To: <ann.smith@example.org>\r\n") == b"To: <[erased]>\r\n"


def test_names_are_cut_out_as_whole_words_and_from_their_entries() -> None:
    scrub = Scrubber("ann@example.org", ["Ann Smith", "Al"])
    assert (
        scrub.text("Dear Ann Smith, about Annual Smithing")
        == f"Dear {ERASED}, about Annual Smithing"
    )
    assert scrub.text("Al") == "Al"  # too short to cut safely
    people = [{"email": "ANN@example.org", "name": "Nan"}, {"email": "bob@x.org", "name": "Bob"}]
    assert scrub.json(people) == [
        {"email": ERASED, "name": None},
        {"email": "bob@x.org", "name": "Bob"},
    ]
    assert scrub.any({"ann@example.org": 1, "n": [2, None]}) == {ERASED: 1, "n": [2, None]}


def test_the_erasure_hash_is_keyed_and_ignores_letter_case() -> None:
    one = subject_hash(b"k1", "Ann@Example.org")
    assert one == subject_hash(b"k1", " ann@example.org ")
    assert one != subject_hash(b"k2", "ann@example.org")
    assert "ann" not in one


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "/relative",
        "mailto:a@b.c",
        "https://",
        "http://exa mple.com:99999/",
        "x" * 9000,
    ],
)
def test_a_new_destination_must_be_a_web_url(bad: str) -> None:
    with pytest.raises(Refused) as refused:
        new_destination(bad, "new_url")
    assert refused.value.status == 422
    assert "new_url" in (refused.value.errors or {})


def test_a_new_destination_is_made_a_valid_uri() -> None:
    assert (
        new_destination("  https://bücher.example/a b  ") == "https://xn--bcher-kva.example/a%20b"
    )


def test_a_click_keeps_the_destination_of_its_time() -> None:
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    changes = [
        (t0 + timedelta(hours=1), "https://a.example"),
        (t0 + timedelta(hours=2), "https://b.example"),
    ]
    assert destination_at("https://c.example", changes, t0) == "https://a.example"
    assert (
        destination_at("https://c.example", changes, t0 + timedelta(minutes=90))
        == "https://b.example"
    )
    assert (
        destination_at("https://c.example", changes, t0 + timedelta(hours=3)) == "https://c.example"
    )
    assert destination_at("https://c.example", [], t0) == "https://c.example"
