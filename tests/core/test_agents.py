"""The user-agent families the classifier used to get wrong (issue #17), each as a family:
forms written for this test, none of them in the labelled evaluation set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbeacon.core.verdicts.agents import identify
from mailbeacon.core.verdicts.classify import MACHINE_AT, Classification, Hit, Verdict, classify

SENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PERSON = {"accept-language": "en-GB,en;q=0.9", "accept": "text/html"}
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; {model}) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "{product}Chrome/124.0.6367.243 {electron}Safari/537.36"
)


def click(agent: str, headers: dict[str, str] | None = None, method: str = "GET") -> Verdict:
    (verdict,) = classify(
        [
            Hit(
                "click",
                method=method,
                user_agent=agent,
                at=SENT + timedelta(minutes=12),
                sent_at=SENT,
                link_index=0,
                headers=PERSON if headers is None else headers,
            )
        ]
    )
    return verdict


@pytest.mark.parametrize(
    "model",
    ["Cubot KingKong 9", "ROBOT R1 Build/TP1A.220624.014", "Bot A1", "HotBot 7 Pro", "SpiderX S2"],
)
def test_a_bot_word_in_a_phones_model_name_is_the_phone(model: str) -> None:
    verdict = click(ANDROID_CHROME.format(model=model))
    assert verdict.classification is Classification.GENUINE


@pytest.mark.parametrize(
    "agent",
    [
        DESKTOP_CHROME.format(product="Curlew/3.1 ", electron=""),  # not curl
        DESKTOP_CHROME.format(product="Wgetsmart/1.4 ", electron=""),  # not wget
        "TopApps/Android/de/samsung/SM-A536B/14/3.1.7/0/A/wifi/widget/0/0",  # not Proofpoint's PPS/
    ],
)
def test_a_tools_name_inside_a_longer_word_is_not_the_tool(agent: str) -> None:
    assert click(agent).classification is Classification.GENUINE


@pytest.mark.parametrize(
    ("product", "electron"),
    [
        ("Slack/4.38.125 ", "Electron/30.0.8 "),
        ("Obsidian/1.6.7 ", "Electron/30.1.2 "),
        ("Notion/3.12.1 ", "Electron/29.4.6 "),
        ("MicrosoftTeams-Preview/1.7.00.13456 ", "Electron/22.3.27 "),
        ("", "AtomShell/1.6.3 "),
    ],
)
def test_desktop_apps_on_electron_are_people(product: str, electron: str) -> None:
    verdict = click(DESKTOP_CHROME.format(product=product, electron=electron))
    assert verdict.classification is Classification.GENUINE
    assert verdict.counts_for_metrics


NATIVE_APPS = [
    "Podcasts/1551.4.1 CFNetwork/1494.0.7 Darwin/23.4.0",
    "Keychain/8.10.36 (com.example.vault; build:81036; iOS 17.4.1) Alamofire/5.9.1",
    "okhttp/4.12.0",
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240205.004)",
    "Reader/2024.3 Cronet/122.0.6261.119",
    "Keyvault/7.3.2",
]


@pytest.mark.parametrize("agent", NATIVE_APPS)
def test_an_apps_own_client_is_an_unknown_client_not_a_known_bot(agent: str) -> None:
    found = identify(agent)
    assert found is not None
    assert found.classification == "unknown_client"
    verdict = click(agent)
    assert "known_bot" not in verdict.reason_codes
    assert "unknown_client" in verdict.reason_codes
    assert 20 <= verdict.probability < MACHINE_AT  # uncertain, near the middle
    assert verdict.counts_for_metrics  # nothing else says machine


@pytest.mark.parametrize("agent", NATIVE_APPS)
def test_an_unknown_clients_other_signals_decide(agent: str) -> None:
    """Without the Accept-Language every app's HTTP stack sends, or as a HEAD, it is not
    counted; the honeypot or a scanner's network would do the same."""
    for verdict in (click(agent, headers={}), click(agent, method="HEAD")):
        assert verdict.machine
        assert not verdict.counts_for_metrics


@pytest.mark.parametrize(
    "agent",
    [
        "Roku/DVP-13.0 (13.0.0.4145-46)",
        "AppleTV14,1/17.4",
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/5.0 Chrome/94.0.4606.31 TV Safari/537.36",
        "SAMSUNG-SGH-E250/1.0 Profile/MIDP-2.0 Configuration/CLDC-1.1 UP.Browser/6.2.3.3.c.1.101",
        "NokiaC3-00/5.0 (08.65) Profile/MIDP-2.1 Configuration/CLDC-1.1",
    ],
)
def test_tvs_set_top_boxes_and_feature_phones_are_people(agent: str) -> None:
    assert click(agent).classification is Classification.GENUINE


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Vigilo/2.4)",
        "Mozilla/5.0 (compatible; LinkSentry/1.3; +https://linksentry.example/about)",
        "Mozilla/5.0 Zephyrus/3.2",
        "Mozilla/5.0 Firefox/126.0",
        "Mozilla/5.0 AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36 Zephyrus-Render",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
        "Zephyrus) Chrome/124.0.0.0 Safari/537.36",
        "AcmeLinkScanner/4.1",
        "mail-security-gateway/7.2.1",
        "OrbitAuditor/2.0.3 (Linux)",
        "uptime-HealthCheck/3.3",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 StudyBot-research (contact: lab@uni.example.org)",
        "Fetchwell (https://fetchwell.example.io)",
        "Quokka/1.0",
        "quokka-link-checker/2.7.1",
    ],
)
def test_tools_announcing_themselves_in_unlisted_forms_are_machines(agent: str) -> None:
    verdict = click(agent)
    assert verdict.machine, verdict
    assert not verdict.counts_for_metrics
    assert verdict.probability >= 90


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; NimbusSecurityScanner/2.2)",
        "linkprobe/3.4.1 (security; +https://linkprobe.example.net)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 UrlAuditor/5.0",
    ],
)
def test_a_self_declared_scanner_following_a_link_is_a_security_scanner(agent: str) -> None:
    verdict = click(agent)
    assert verdict.classification is Classification.SECURITY_SCANNER
    assert "link_protection" in verdict.reason_codes
