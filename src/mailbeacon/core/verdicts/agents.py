"""Who a user agent says it is.

In this order:

1. mailbeacon's own table of the agents that matter for email and that general crawler lists
   get wrong or miss: the mail providers' image proxies, Apple Mail Privacy Protection's bare
   ``Mozilla/5.0``, chat and social link previews, mail-security scanners, and the people who
   look like bots (Outlook's ``ms-office`` agents, Office apps, the WhatsApp app's browser).
   Names are matched from a word's start, never inside another word.
2. CrawlerDetect (``crawlerdetect``, a port of the maintained JayBizzle/Crawler-Detect list)
   for every other crawler, HTTP library and headless browser, trusted only where its match is
   a whole name: "Curl" inside "Curlew" or "Bot" inside a phone's model name is nobody's tool.
   A desktop app on Electron and an app on the phone's own HTTP stack name themselves as tools
   do ("Slack/4.38", "okhttp/4.12"): for them only a bot's generic word counts.
3. The forms of core/verdicts/forms.py: tools that announce themselves without being on any
   list, people's devices, and unknown clients, weak evidence that the hit's other signals
   decide (core/verdicts/classify.py).

Each answer carries ``certainty``, the share of machines among the development part's hits
with such an agent (tests/core/test_classify_evaluation.py): the verdict's probability when
nothing else is known.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

from crawlerdetect import CrawlerDetect

from .forms import NATIVE_STACK, PLATFORM, announced, in_device_model, unknown

__all__ = ["Agent", "identify"]


@dataclass(frozen=True, slots=True)
class Agent:
    # privacy_proxy, link_preview, security_scanner, generic_bot, genuine, or unknown_client
    classification: str
    family: str | None
    proxy_type: str | None = None
    detail: str = ""
    certainty: int = 99  # the share of machines among hits with such an agent, in percent


def _rule(
    pattern: str,
    classification: str,
    family: str | None,
    detail: str,
    proxy_type: str | None = None,
) -> tuple[re.Pattern[str], Agent]:
    return re.compile(pattern, re.IGNORECASE), Agent(classification, family, proxy_type, detail)


# First match wins. "genuine" rows protect people whose agents look like tools: mail clients
# fetching images as their user reads, Office apps following a link their user clicked, the
# WhatsApp app's browser. Names are matched as whole words (\b), never inside another.
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
    _rule(r"\bBluesky\b", "link_preview", "bluesky", "Bluesky's link preview"),
    _rule(r"\bMastodon/", "link_preview", "mastodon", "a Mastodon server's link preview"),
    _rule(r"\b(?:Iframely|Embedly)\b", "link_preview", "embed_service", "an embedding service"),
    _rule(r"SteamChatURLLookup", "link_preview", "steam", "Steam chat's link preview"),
    _rule(
        r"Link ?Preview|URL ?Preview|Unfurl",
        "link_preview",
        "link_preview",
        "a link-preview service",
    ),
    _rule(r"\bBarracuda", "security_scanner", "barracuda", "Barracuda's scanner"),
    _rule(r"\bMimecast", "security_scanner", "mimecast", "Mimecast's scanner"),
    _rule(
        r"Proofpoint|\bPPS/|URLDefense", "security_scanner", "proofpoint", "Proofpoint's scanner"
    ),
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
        r"\bKaspersky|Norton-Safeweb|YandexAntivirus|SpamExperts|LightspeedSystems|"
        r"safesearch\.avira|Virusdie|Virus (?:Check|Scan)",
        "security_scanner",
        "security_vendor",
        "a security vendor's scanner",
    ),
    # Electron alone is a desktop app (Slack, Teams, Obsidian) its user clicked in.
    _rule(
        r"HeadlessChrome|PhantomJS|\bPuppeteer\b|\bPlaywright\b|\bSelenium\b",
        "generic_bot",
        "headless_browser",
        "a headless browser",
    ),
    _rule(
        r"^(?:aws-sdk|Apache-HttpClient|Go-http-client|python-|Java/|libwww-perl|"
        r"curl/|Wget/|axios/|node-fetch|undici|Ruby\b|PHP/|Guzzle)",
        "generic_bot",
        "http_library",
        "an HTTP library",
    ),
)

# CrawlerDetect's generic words, which may end a longer name ("ExampleCrawler", "SiteBot").
_GENERIC_MATCH = re.compile(r"bot|crawl|spider|slurp", re.IGNORECASE)
_DESKTOP_APP = re.compile(r"\bElectron/|\bAtomShell/", re.IGNORECASE)
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
    for pattern, named in _RULES:
        if pattern.search(agent):
            return named
    # A desktop app on Electron names itself like a tool would ("Slack/4.33"): CrawlerDetect's
    # list of tool names is no evidence against it, only its own announcements are.
    # The same holds for an app on the phone's own HTTP stack ("okhttp/4.12").
    desktop_app = _DESKTOP_APP.search(agent) is not None and PLATFORM.search(agent) is not None
    app = desktop_app or NATIVE_STACK.search(agent) is not None
    listed = _listed_tool(agent, generic_only=app)
    if listed is not None:
        return listed
    form = announced(agent) or unknown(agent)
    if form is None:
        return None
    return Agent(form.classification, form.family, detail=form.detail, certainty=form.certainty)


def _listed_tool(agent: str, *, generic_only: bool = False) -> Agent | None:
    """CrawlerDetect's answer where its match names a tool; for an app's own user agent only
    a bot's generic word ("SomeBot" riding on OkHttp) counts, not the app's or its stack's
    name."""
    with _crawlers_lock:  # CrawlerDetect keeps its last match in the instance
        crawler = _crawlers.isCrawler(agent)
        match = str(_crawlers.getMatches() or "")
    if not crawler or not _names_a_tool(agent, match):
        return None
    if generic_only and not _GENERIC_MATCH.search(match):
        return None
    family = _WORD.sub("_", match.lower()).strip("_")[:40] or "crawler"
    return Agent("generic_bot", family, detail=f"user agent is a known tool ({match or 'crawler'})")


def _names_a_tool(agent: str, match: str) -> bool:
    """Whether CrawlerDetect's match is a tool's name where it stands: a whole word ("Curl" in
    "Curlew" is not), and not a phone's model name ("Bot" in "Android 12; Bot A1 Build/...")."""
    start = agent.lower().find(match.lower()) if match else -1
    if start < 0:
        return True
    end = start + len(match)
    if in_device_model(agent, start):
        return False
    if _GENERIC_MATCH.search(match):
        return True  # "bot", "crawl": a word that ends or starts many tools' names
    before = agent[start - 1] if start else " "
    after = agent[end] if end < len(agent) else " "
    inside = (match[0].isalnum() and before.isalnum()) or (match[-1].isalnum() and after.isalpha())
    return not inside
