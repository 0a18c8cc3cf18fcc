"""Who a user agent says it is.

Two sources, in this order:

1. mailbeacon's own table of the agents that matter for email and that general crawler lists
   get wrong or miss: the mail providers' image proxies, Apple Mail Privacy Protection's bare
   ``Mozilla/5.0``, chat and social link previews, and the people who look like bots
   (Outlook's ``ms-office`` agents, the WhatsApp app's in-app browser, phones called "Cubot").
2. CrawlerDetect (``crawlerdetect``, a port of the maintained JayBizzle/Crawler-Detect list)
   for every other crawler, HTTP library and headless browser.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

from crawlerdetect import CrawlerDetect

__all__ = ["Agent", "identify"]


@dataclass(frozen=True, slots=True)
class Agent:
    classification: str  # privacy_proxy, link_preview, security_scanner, generic_bot, genuine
    family: str | None
    proxy_type: str | None = None
    detail: str = ""


def _rule(
    pattern: str,
    classification: str,
    family: str | None,
    detail: str,
    proxy_type: str | None = None,
) -> tuple[re.Pattern[str], Agent]:
    return re.compile(pattern, re.IGNORECASE), Agent(classification, family, proxy_type, detail)


# First match wins. "genuine" rows protect people whose agents look like tools: mail clients
# fetching images as their user reads, Office apps following a link their user clicked, phones
# called "Cubot", the WhatsApp app's browser.
_RULES = (
    _rule(
        r"\bms-office\b|\bMSOffice\b|Microsoft (?:Office|Outlook)|MacOutlook|Outlook-(?:iOS|"
        r"Android|Express)",
        "genuine",
        None,
        "an Outlook or Office user agent",
    ),
    _rule(
        r"^(?:Airmail|Canary(?:%20| )Mail|Mail/[\d.]+ CFNetwork|YahooMobileMail|Superhuman|"
        r"The Bat!|Evolution/|MailBar/)|ExchangeWebServices/|Thunderbird/",
        "genuine",
        None,
        "a mail client",
    ),
    _rule(r"\b(?:Word|Excel|PowerPoint)/[\d.]+", "genuine", None, "an Office app"),
    _rule(r"\bCubot\b", "genuine", None, "a Cubot phone"),
    _rule(r"Mozilla/5\.0 .*\bWhatsApp/[\d.]+$", "genuine", None, "the WhatsApp app's browser"),
    _rule(
        r"GoogleImageProxy", "privacy_proxy", "google", "Gmail's image proxy", "gmail_image_proxy"
    ),
    _rule(
        r"YahooMailProxy", "privacy_proxy", "yahoo", "Yahoo Mail's image proxy", "yahoo_mail_proxy"
    ),
    _rule(
        r"Privacy Preserving Prefetch Proxy",
        "privacy_proxy",
        "chrome_prefetch_proxy",
        "Chrome's prefetch proxy",
        "chrome_prefetch_proxy",
    ),
    _rule(r"YandexUserproxy", "privacy_proxy", "yandex", "Yandex's user proxy", "yandex_userproxy"),
    _rule(r"Slackbot|Slack-ImgProxy", "link_preview", "slack", "Slack's link expander"),
    _rule(
        r"SkypeUriPreview", "link_preview", "microsoft_teams", "Microsoft Teams/Skype link preview"
    ),
    _rule(
        r"MicrosoftPreview|BingPreview",
        "link_preview",
        "microsoft_preview",
        "Microsoft's link preview",
    ),
    _rule(r"Discordbot", "link_preview", "discord", "Discord's link preview"),
    _rule(r"TelegramBot", "link_preview", "telegram", "Telegram's link preview"),
    _rule(r"^WhatsApp", "link_preview", "whatsapp", "WhatsApp's link preview"),
    _rule(r"LinkedInBot", "link_preview", "linkedin", "LinkedIn's link preview"),
    _rule(
        r"facebookexternalhit|Facebot|facebookcatalog|Meta-ExternalHit",
        "link_preview",
        "facebook",
        "Facebook's link preview",
    ),
    _rule(r"Twitterbot", "link_preview", "twitter", "X/Twitter's link preview"),
    _rule(r"Applebot|iMessageLinkPreview", "link_preview", "apple", "Apple's link preview"),
    _rule(
        r"Google-PageRenderer|Google Web Preview|developers\.google\.com/\+/web/snippet",
        "link_preview",
        "google",
        "Google's page renderer",
    ),
    # The preview fetcher, not the Pinterest app's browser ("[Pinterest/iOS]").
    _rule(r"Pinterestbot|^Pinterest/0\.", "link_preview", "pinterest", "Pinterest's link preview"),
    _rule(r"redditbot", "link_preview", "reddit", "Reddit's link preview"),
    _rule(r"vkShare|OdklBot", "link_preview", "vk", "VK's link preview"),
    _rule(r"Snap ?URL ?Preview", "link_preview", "snapchat", "Snapchat's link preview"),
    _rule(r"Bluesky", "link_preview", "bluesky", "Bluesky's link preview"),
    _rule(r"Mastodon/", "link_preview", "mastodon", "a Mastodon server's link preview"),
    _rule(r"Iframely|Embedly", "link_preview", "embed_service", "an embedding service"),
    _rule(r"SteamChatURLLookup", "link_preview", "steam", "Steam chat's link preview"),
    _rule(
        r"Link ?Preview|URL ?Preview|Unfurl",
        "link_preview",
        "link_preview",
        "a link-preview service",
    ),
    _rule(r"Barracuda", "security_scanner", "barracuda", "Barracuda's scanner"),
    _rule(r"Mimecast", "security_scanner", "mimecast", "Mimecast's scanner"),
    _rule(r"Proofpoint|PPS/|URLDefense", "security_scanner", "proofpoint", "Proofpoint's scanner"),
    _rule(
        r"Cloudflare-?Radar|CloudflareRadarURLScanner",
        "security_scanner",
        "cloudflare_url_scanner",
        "Cloudflare's URL scanner",
    ),
    _rule(
        r"Google-Safety|ProjectShield-UrlCheck|virustotal",
        "security_scanner",
        "google",
        "a Google security check",
    ),
    _rule(
        r"Kaspersky|Norton-Safeweb|YandexAntivirus|SpamExperts|LightspeedSystems|"
        r"safesearch\.avira|Virusdie|Virus (?:Check|Scan)",
        "security_scanner",
        "security_vendor",
        "a security vendor's scanner",
    ),
    _rule(
        r"HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|Electron/[\d.]+ Safari",
        "generic_bot",
        "headless_browser",
        "a headless browser",
    ),
    _rule(
        r"^(?:aws-sdk|Apache-HttpClient|okhttp|Go-http-client|python-|Java/|libwww-perl|"
        r"curl/|Wget/|axios/|node-fetch|undici|Ruby|PHP/|Guzzle)",
        "generic_bot",
        "http_library",
        "an HTTP library",
    ),
)
# Neither "Mozilla/" nor anything a browser or mail client says: a tool or a bot.
_PERSON_TOKENS = re.compile(
    r"Opera|UCWEB|UCBrowser|Dolphin|BlackBerry|Nokia|Safari|Chrome|Firefox|Mobile|Mail|Outlook|"
    r"Android|iPhone|iPad|Windows|Macintosh|Linux|MIDP|Profile/|Presto|Trident",
    re.IGNORECASE,
)
_APPLE_MPP = "Mozilla/5.0"  # Mail Privacy Protection's prefetcher sends exactly this
_crawlers = CrawlerDetect()
_crawlers_lock = threading.Lock()
_WORD = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=50_000)
def identify(user_agent: str) -> Agent | None:
    """What the user agent identifies as, or None for an ordinary browser or mail client."""
    agent = user_agent.strip()
    if not agent:
        return Agent("generic_bot", "empty_user_agent", detail="no User-Agent header at all")
    if agent == _APPLE_MPP:
        return Agent(
            "privacy_proxy",
            "apple",
            "apple_mpp",
            "the bare user agent of Apple Mail Privacy Protection",
        )
    for pattern, found in _RULES:
        if pattern.search(agent):
            return found
    with _crawlers_lock:  # CrawlerDetect keeps its last match in the instance
        crawler = _crawlers.isCrawler(agent)
        match = _crawlers.getMatches() or "crawler"
    if crawler:
        family = _WORD.sub("_", str(match).lower()).strip("_")[:40] or "crawler"
        return Agent("generic_bot", family, detail=f"user agent is a known tool ({match})")
    if "+http" in agent:  # crawlers sign with a URL about themselves
        return Agent("generic_bot", "crawler", detail="user agent carries a crawler's +URL")
    if not agent.startswith("Mozilla/") and not _PERSON_TOKENS.search(agent):
        return Agent(
            "generic_bot",
            "unknown_tool",
            detail="user agent is neither a browser's nor a mail client's",
        )
    return None
