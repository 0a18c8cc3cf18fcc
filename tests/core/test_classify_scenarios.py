"""Scenario traces beyond user agents (issue #17, item 4): what each hit of a copy is judged,
with the request a real client sends, the network it comes from and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbeacon.core.verdicts.classify import MACHINE_AT, Classification, Hit, Verdict, classify
from mailbeacon.core.verdicts.networks import NetworkTable
from mailbeacon.store.networks import builtin_ranges

NETWORKS = NetworkTable(builtin_ranges())
SENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# What Chrome sends for a link opened from a webmail tab.
BROWSER_HEADERS = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "*/*;q=0.8",
    "accept-language": "en-GB,en;q=0.9",
    "accept-encoding": "gzip, deflate, br, zstd",
    "sec-fetch-dest": "document",
    "sec-fetch-mode": "navigate",
    "sec-fetch-site": "cross-site",
    "sec-fetch-user": "?1",
    "upgrade-insecure-requests": "1",
}
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
INSTAGRAM = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,3; iOS 17_5; en_GB; en-GB; "
    "scale=3.00; 1290x2796; 606440573)"
)


def at(**delta: float) -> datetime:
    return SENT + timedelta(**delta)


def judge(*hits: Hit, links: int | None = None) -> list[Verdict]:
    return classify(hits, networks=NETWORKS, link_count=links)


def test_a_sign_in_link_clicked_4_s_after_delivery_by_a_person_is_genuine() -> None:
    """Magic links are clicked at once: four seconds is quick, not too quick."""
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=4),
            sent_at=SENT,
            link_index=0,
            ip="81.2.69.160",
            headers=BROWSER_HEADERS,
        )
    )
    assert verdict.classification is Classification.GENUINE
    assert (verdict.machine, verdict.counts_for_metrics) == (False, True)
    assert verdict.probability < 10


def test_the_same_link_half_a_second_after_delivery_from_a_mail_security_network() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=0.5),
            sent_at=SENT,
            link_index=0,
            ip="40.107.22.0",  # Microsoft's Exchange Online Protection
        )
    )
    assert verdict.classification is Classification.SECURITY_SCANNER
    assert verdict.family == "microsoft_safe_links"
    assert {"security_network", "timing", "link_protection"} <= set(verdict.reason_codes)
    assert (verdict.machine, verdict.counts_for_metrics) == (True, False)
    assert verdict.probability >= 95


def test_a_click_in_an_apps_in_app_browser_is_genuine() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=INSTAGRAM,
            at=at(hours=2),
            sent_at=SENT,
            link_index=1,
            ip="81.2.69.160",
            headers={"accept-language": "en-GB,en;q=0.9", "accept": "text/html"},
        )
    )
    assert verdict.classification is Classification.GENUINE
    assert verdict.counts_for_metrics


def test_a_gmail_proxy_open_an_hour_later_is_a_persons_open_through_a_proxy() -> None:
    (verdict,) = judge(
        Hit("open", user_agent=GMAIL, at=at(hours=1), sent_at=SENT, ip="66.249.84.0")
    )
    assert verdict.classification is Classification.PRIVACY_PROXY
    assert verdict.proxy_type == "gmail_image_proxy"
    assert (verdict.machine, verdict.counts_for_metrics) == (False, True)
    assert verdict.probability < 10


def test_apple_proxy_fetches_at_delivery_and_days_later_are_never_counted() -> None:
    """Apple fetches whether or not the message is read: neither fetch is evidence that it
    was, whenever it comes (README: one meaning for privacy-proxy opens)."""
    verdicts = judge(
        Hit("open", user_agent="Mozilla/5.0", at=at(seconds=3), sent_at=SENT, ip="17.58.96.0"),
        Hit("open", user_agent="Mozilla/5.0", at=at(days=3), sent_at=SENT, ip="17.58.96.0"),
    )
    for verdict in verdicts:
        assert verdict.classification is Classification.PRIVACY_PROXY
        assert verdict.proxy_type == "apple_mpp"
        assert "confirmed" in verdict.reason_codes
        assert (verdict.machine, verdict.counts_for_metrics) == (True, False)


def test_every_link_within_two_seconds_from_a_residential_address_is_scanner_like() -> None:
    """A browser's user agent and headers from a home address: the pattern alone says
    scanner, but with less certainty than a scanner's network would add."""
    hits = [
        Hit(
            "click",
            user_agent=CHROME,
            at=at(minutes=3, milliseconds=400 * i),
            sent_at=SENT,
            link_index=i,
            ip="81.2.69.160",
            headers=BROWSER_HEADERS,
        )
        for i in range(5)
    ]
    for verdict in judge(*hits, links=5):
        assert verdict.classification is Classification.SECURITY_SCANNER
        assert not verdict.counts_for_metrics
        assert MACHINE_AT <= verdict.probability <= 80
        assert {"timing", "link_pattern"} <= set(verdict.reason_codes)


def test_many_people_behind_one_corporate_nat_clicking_within_a_minute_are_people() -> None:
    """Each recipient's copy is judged alone: one address shared by a whole office is no
    pattern, however many of its people click the same link at once."""
    for person in range(40):
        (verdict,) = judge(
            Hit(
                "click",
                user_agent=CHROME,
                at=at(minutes=30, seconds=1.5 * person),
                sent_at=SENT,
                link_index=0,
                ip="198.51.100.20",
                headers=BROWSER_HEADERS,
            )
        )
        assert verdict.classification is Classification.GENUINE
        assert verdict.counts_for_metrics
