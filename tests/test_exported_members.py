"""The public API is what __all__ says, and everything in it exists."""

from __future__ import annotations

import mailbeacon


def test_all_names_exist() -> None:
    for name in mailbeacon.__all__:
        assert hasattr(mailbeacon, name), name


def test_no_public_name_is_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(mailbeacon).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("mailbeacon")
    }
    assert public <= set(mailbeacon.__all__)


def test_the_documented_entry_points_are_exported() -> None:
    for name in ("instrument_html", "instrument_message", "TokenCodec", "Keyring", "CopyTracker"):
        assert name in mailbeacon.__all__
