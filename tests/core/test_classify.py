"""Verdicts for the traces the classifier exists for, each explained by its reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.core.verdicts.classify import Classification, Hit, Verdict, classify
from mailbeacon.core.verdicts.networks import NetworkRange, NetworkTable, parse_ranges
from mailbeacon.store.networks import builtin_ranges

SENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
PERSON = {"accept-language": "en-GB,en;q=0.9", "accept": "text/html"}
NETWORKS = NetworkTable(builtin_ranges())


def at(**delta: float) -> datetime:
    return SENT + timedelta(**delta)


def judge(*hits: Hit, links: int | None = None) -> list[Verdict]:
    return classify(hits, networks=NETWORKS, link_count=links)


def test_an_apple_mpp_prefetch_at_delivery_is_a_confirmed_privacy_proxy() -> None:
    (verdict,) = judge(
        Hit("open", user_agent="Mozilla/5.0", at=at(seconds=4), sent_at=SENT, ip="17.58.96.0")
    )
    assert verdict.classification is Classification.PRIVACY_PROXY
    assert verdict.proxy_type == "apple_mpp"
    assert (verdict.machine, verdict.counts_for_metrics) == (True, False)
    assert "privacy_proxy" in verdict.reason_codes
    assert "confirmed" in verdict.reason_codes
    (elsewhere,) = judge(Hit("open", user_agent="Mozilla/5.0", ip="203.0.113.0"))
    assert "unconfirmed" in elsewhere.reason_codes


def test_a_gmail_proxy_open_hours_later_counts_as_an_open() -> None:
    (verdict,) = judge(
        Hit("open", user_agent=GMAIL_PROXY, at=at(hours=3), sent_at=SENT, ip="66.249.84.0")
    )
    assert verdict.classification is Classification.PRIVACY_PROXY
    assert verdict.proxy_type == "gmail_image_proxy"
    assert (verdict.machine, verdict.counts_for_metrics) == (False, True)
    assert verdict.reason_codes[0] == "image_proxy"


def test_google_webmail_networks_are_never_bots_for_opens() -> None:
    """Even without Accept-Language or a telling user agent, from Google's proxy network."""
    (verdict,) = judge(Hit("open", user_agent=CHROME, ip="66.249.85.0"))
    assert verdict.counts_for_metrics is True
    assert verdict.machine is False


def test_a_safe_links_burst_45_seconds_after_delivery() -> None:
    hits = [
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=45, milliseconds=90 * i),
            sent_at=SENT,
            link_index=i,
            ip="40.107.22.0",
        )
        for i in range(5)
    ]
    verdicts = judge(*hits, links=5)
    for verdict in verdicts:
        assert verdict.classification is Classification.SECURITY_SCANNER
        assert verdict.family == "microsoft_safe_links"
        assert {"link_protection", "security_network", "timing"} <= set(verdict.reason_codes)
        assert (verdict.machine, verdict.counts_for_metrics) == (True, False)
        assert verdict.probability >= 95


def test_a_burst_is_a_scanner_even_from_an_unknown_network_with_a_browser_agent() -> None:
    hits = [
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=52, milliseconds=300 * i),
            sent_at=SENT,
            link_index=i,
            ip="198.51.100.0",
            headers=PERSON,
        )
        for i in range(3)
    ]
    for verdict in judge(*hits, links=8):
        assert verdict.classification is Classification.SECURITY_SCANNER
        assert "timing" in verdict.reason_codes
        assert any("3 different links" in d for d in verdict.details)


def test_a_head_probe_is_a_bot() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            method="HEAD",
            user_agent=CHROME,
            at=at(minutes=3),
            sent_at=SENT,
            link_index=0,
            headers=PERSON,
        )
    )
    assert verdict.classification is Classification.GENERIC_BOT
    assert verdict.reason_codes == ("request_shape",)
    assert verdict.machine


def test_a_slack_preview() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent="Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            at=at(hours=1),
            link_index=2,
        )
    )
    assert verdict.classification is Classification.LINK_PREVIEW
    assert verdict.family == "slack"
    assert "known_bot" in verdict.reason_codes
    assert not verdict.counts_for_metrics


def test_a_person_opening_and_clicking_two_links_over_minutes() -> None:
    verdicts = judge(
        Hit("open", user_agent=IPHONE_SAFARI, at=at(minutes=12), sent_at=SENT, headers=PERSON),
        Hit(
            "click",
            user_agent=IPHONE_SAFARI,
            at=at(minutes=13),
            sent_at=SENT,
            link_index=1,
            headers=PERSON,
        ),
        Hit(
            "click",
            user_agent=IPHONE_SAFARI,
            at=at(minutes=17),
            sent_at=SENT,
            link_index=4,
            headers=PERSON,
        ),
    )
    for verdict in verdicts:
        assert verdict.classification is Classification.GENUINE
        assert (verdict.machine, verdict.counts_for_metrics) == (False, True)
        assert verdict.probability < 50


def test_outlook_desktop_opening_and_clicking_in_the_same_second_is_a_person() -> None:
    verdicts = judge(
        Hit("open", user_agent=OUTLOOK, at=at(minutes=30), sent_at=SENT, headers=PERSON),
        Hit(
            "click",
            user_agent=CHROME,
            at=at(minutes=30, milliseconds=600),
            sent_at=SENT,
            link_index=0,
            headers=PERSON,
        ),
    )
    assert [v.classification for v in verdicts] == [Classification.GENUINE] * 2
    assert all(v.counts_for_metrics for v in verdicts)


def test_the_honeypot_and_its_clients_other_hits() -> None:
    verdicts = judge(
        Hit("honeypot", user_agent=CHROME, at=at(seconds=40), ip="192.0.2.0"),
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=41),
            link_index=0,
            ip="192.0.2.0",
            headers=PERSON,
        ),
        Hit(
            "click",
            user_agent=CHROME,
            at=at(minutes=20),
            link_index=0,
            ip="203.0.113.0",
            headers=PERSON,
        ),  # a person, later, elsewhere
    )
    assert verdicts[0].machine
    assert any("honeypot" in d for d in verdicts[0].details)
    assert verdicts[1].machine
    assert "link_pattern" in verdicts[1].reason_codes
    assert not verdicts[2].machine


def test_context_opens_and_delivery_times_change_no_verdict() -> None:
    """The promoter passes a copy's earlier clicks and honeypot hits as context, without its
    opens, and the hits as they were built: only those take part in the patterns."""
    trap = Hit("honeypot", user_agent=CHROME, at=at(seconds=40), ip="192.0.2.0")
    clicks = [
        Hit("click", user_agent=CHROME, at=at(seconds=40.1 * i), link_index=i, ip="192.0.2.0")
        for i in range(1, 3)
    ]
    opens = [
        Hit("open", user_agent=CHROME, at=at(seconds=39 + i), ip="192.0.2.0") for i in range(3)
    ]
    new = [
        Hit("open", user_agent=CHROME, at=at(seconds=41), sent_at=SENT, ip="192.0.2.0"),
        Hit(
            "click",
            user_agent=CHROME,
            at=at(seconds=41, milliseconds=500),
            sent_at=SENT,
            link_index=3,
            ip="192.0.2.0",
            headers=PERSON,
        ),
    ]
    everything = sorted([trap, *clicks, *opens], key=lambda hit: hit.at or SENT)
    delivered = [hit._replace(sent_at=at(seconds=40)) for hit in everything]
    expected = classify(new, networks=NETWORKS, link_count=4, context=everything)
    assert all(v.machine for v in expected)
    for context in ([trap, *clicks], delivered):
        assert classify(new, networks=NETWORKS, link_count=4, context=context) == expected


def test_prefetch_headers_mark_a_machine() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=CHROME,
            link_index=0,
            headers={**PERSON, "sec-purpose": "prefetch;prerender"},
        )
    )
    assert verdict.machine
    assert verdict.reason_codes == ("request_shape",)


def test_a_missing_accept_language_alone_does_not_make_a_machine() -> None:
    (verdict,) = judge(
        Hit("click", user_agent=CHROME, at=at(minutes=5), sent_at=SENT, link_index=0)
    )
    assert verdict.classification is Classification.GENUINE
    assert verdict.counts_for_metrics


def test_a_private_relay_address_never_demotes_a_click() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=IPHONE_SAFARI,
            at=at(minutes=8),
            sent_at=SENT,
            link_index=0,
            ip="17.58.0.0",
            headers=PERSON,
        )
    )
    assert verdict.classification is Classification.GENUINE


def test_a_click_within_seconds_of_delivery_is_suspect() -> None:
    (verdict,) = judge(
        Hit(
            "click", user_agent=CHROME, at=at(seconds=1), sent_at=SENT, link_index=0, headers=PERSON
        )
    )
    assert verdict.machine
    assert "timing" in verdict.reason_codes


def test_probable_vendor_networks_are_scanners_with_less_certainty() -> None:
    (verdict,) = judge(
        Hit(
            "click",
            user_agent=CHROME,
            at=at(minutes=2),
            sent_at=SENT,
            link_index=0,
            ip="148.163.130.0",
            headers=PERSON,
        )
    )
    assert verdict.classification is Classification.SECURITY_SCANNER
    assert verdict.family == "proofpoint"
    assert 50 <= verdict.probability < 95


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
        "Mozilla/5.0 (Linux; Android 12; Cubot KingKong 7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/112.0.0.0 Mobile Safari/537.36",
    ],
)
def test_known_false_positives_are_people(agent: str) -> None:
    (verdict,) = judge(
        Hit("click", user_agent=agent, at=at(minutes=9), sent_at=SENT, link_index=0, headers=PERSON)
    )
    assert verdict.classification is Classification.GENUINE


def test_the_network_table_prefers_the_most_specific_range() -> None:
    table = NetworkTable(
        [
            NetworkRange("17.0.0.0/8", "apple", "apple_relay", "certain"),
            NetworkRange("17.5.0.0/16", "other", "scanner", "probable"),
        ]
    )
    assert table.lookup("17.5.1.2").provider == "other"  # type: ignore[union-attr]
    assert table.lookup("17.6.1.2").provider == "apple"  # type: ignore[union-attr]
    assert table.lookup("10.0.0.1") is None
    assert table.lookup("not an address") is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("10.0.0.0/8,x,scanner", "expected network,provider,role,confidence"),
        ("10.0.0.0/33,x,scanner,certain", "line 1"),
        ("10.0.0.0/8,x,ghost,certain", "role must be"),
        ("10.0.0.0/8,x,scanner,maybe", "confidence must be"),
    ],
)
def test_bad_network_lists_name_the_line(line: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_ranges(line)
