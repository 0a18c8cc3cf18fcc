"""Client facts in Lettermint's vocabulary (core/verdicts/useragent.py)."""

from __future__ import annotations

import pytest

from mailbeacon.core.verdicts.useragent import LETTERMINT_NAMES, client_facts

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1"
)


def test_an_iphones_browser_is_safari_as_in_lettermints_example() -> None:
    facts = client_facts(IPHONE_SAFARI)
    assert (facts.device_type, facts.client_type, facts.client_name) == (
        "mobile",
        "browser",
        "Safari",
    )


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Mobile Safari/537.36",
            ("mobile", "browser", "Chrome"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1",
            ("tablet", "browser", "Chrome"),
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            ("mobile", "browser", "Firefox"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148",
            ("mobile", "email_client", "Apple Mail"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko)",
            ("desktop", "email_client", "Apple Mail"),
        ),
        (
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)",
            ("desktop", "email_client", "Outlook"),
        ),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
            "GoogleImageProxy)",
            ("desktop", "proxy", "Gmail"),
        ),
    ],
)
def test_one_name_per_product_on_every_device(user_agent: str, expected: tuple[str, ...]) -> None:
    facts = client_facts(user_agent)
    assert (facts.device_type, facts.client_type, facts.client_name) == expected


def test_no_name_of_the_table_is_left_in_ua_parsers_mobile_form() -> None:
    assert not any(name.startswith("Mobile ") for name in LETTERMINT_NAMES.values())
    assert "Mobile Safari" not in LETTERMINT_NAMES.values()
