"""Facts about a user agent for event payloads: device type, client type, client name.

Parsing is ua-parser's (its Rust-backed resolver when ``ua-parser[regex]`` is installed),
behind a cache: mail clients and proxies repeat the same few strings endlessly.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from ua_parser import parse

__all__ = ["LETTERMINT_NAMES", "ClientFacts", "client_facts"]

# Families ua-parser reports for mail clients and the mail providers' image proxies.
_EMAIL_CLIENTS = frozenset(
    {
        "Outlook",
        "Thunderbird",
        "Apple Mail",
        "Airmail",
        "Spark",
        "Lotus Notes",
        "Postbox",
        "Windows Live Mail",
        "Microsoft Outlook",
        "Eudora",
        "Mailbird",
        "eM Client",
    }
)
_PROXIES = frozenset({"GmailImageProxy", "YahooMailProxy", "Yahoo! Slurp"})
# ua-parser's family -> the name Lettermint reports (its click-tracking page shows an iPhone's
# browser as "Safari"): one name per product, whatever device it runs on, as a reader says it.
# A family not listed keeps ua-parser's name.
LETTERMINT_NAMES: Mapping[str, str] = {
    "Mobile Safari": "Safari",
    # iOS's WebKit view without a Safari token: Apple Mail loading images (ua-parser already
    # calls the same shape on a Mac "Apple Mail").
    "Mobile Safari UI/WKWebView": "Apple Mail",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Opera Mobile": "Opera",
    "Opera Mini": "Opera",
    "DuckDuckGo Mobile": "DuckDuckGo",
    "Microsoft Outlook": "Outlook",
    "YahooMobileMail": "Yahoo Mail",
    # The mailbox providers' image proxies fetch for their readers: named after the mailbox.
    "GmailImageProxy": "Gmail",
    "YahooMailProxy": "Yahoo Mail",
}
_TABLETS = ("ipad", "tablet", "kindle", "silk/", "playbook")
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS"})


@dataclass(frozen=True, slots=True)
class ClientFacts:
    device_type: str  # desktop, mobile, tablet, unknown
    client_type: str  # browser, email_client, proxy, bot, unknown
    client_name: str | None


@functools.lru_cache(maxsize=20_000)
def client_facts(user_agent: str) -> ClientFacts:
    if not user_agent.strip():
        return ClientFacts("unknown", "unknown", None)
    result = parse(user_agent)
    family = result.user_agent.family if result.user_agent else None
    os_family = result.os.family if result.os else None
    device = result.device
    lowered = user_agent.lower()
    if family in _PROXIES or "imageproxy" in lowered or "mailproxy" in lowered:
        client_type = "proxy"
    elif device is not None and device.family == "Spider":
        client_type = "bot"
    elif (
        family in _EMAIL_CLIENTS
        or LETTERMINT_NAMES.get(family or "") in _EMAIL_CLIENTS
        or "outlook" in lowered
        or "thunderbird" in lowered
    ):
        client_type = "email_client"
    elif family and family != "Other":
        client_type = "browser"
    else:
        client_type = "unknown"
    # Android tablets say "Android" without "Mobile" (Google's advice to browser makers).
    android_tablet = "android" in lowered and "mobile" not in lowered
    if android_tablet or any(marker in lowered for marker in _TABLETS):
        device_type = "tablet"
    elif os_family in _MOBILE_OS or "mobile" in lowered:
        device_type = "mobile"
    elif os_family and os_family != "Other":
        device_type = "desktop"
    else:
        device_type = "unknown"
    name = LETTERMINT_NAMES.get(family, family) if family and family != "Other" else None
    return ClientFacts(device_type, client_type, name)
