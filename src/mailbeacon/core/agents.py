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


# First match wins. "genuine" rows protect people whose agents contain bot-like words.
_RULES = (
    _rule(
        r"\bms-office\b|\bMSOffice\b|Microsoft Outlook|Outlook-(?:iOS|Android)",
        "genuine",
        None,
        "an Outlook user agent",
    ),
    _rule(r"\bCubot\b", "genuine", None, "a Cubot phone"),
    _rule(r"Mozilla/5\.0 .*\bWhatsApp/[\d.]+$", "genuine", None, "the WhatsApp app's browser"),
    _rule(
        r"GoogleImageProxy", "privacy_proxy", "google", "Gmail's image proxy", "gmail_image_proxy"
    ),
    _rule(
        r"YahooMailProxy", "privacy_proxy", "yahoo", "Yahoo Mail's image proxy", "yahoo_mail_proxy"
    ),
    _rule(r"Slackbot|Slack-ImgProxy", "link_preview", "slack", "Slack's link expander"),
    _rule(
        r"SkypeUriPreview", "link_preview", "microsoft_teams", "Microsoft Teams/Skype link preview"
    ),
    _rule(r"MicrosoftPreview", "link_preview", "microsoft_preview", "Microsoft's link preview"),
    _rule(r"Discordbot", "link_preview", "discord", "Discord's link preview"),
    _rule(r"TelegramBot", "link_preview", "telegram", "Telegram's link preview"),
    _rule(r"^WhatsApp/", "link_preview", "whatsapp", "WhatsApp's link preview"),
    _rule(r"LinkedInBot", "link_preview", "linkedin", "LinkedIn's link preview"),
    _rule(
        r"facebookexternalhit|Facebot|facebookcatalog",
        "link_preview",
        "facebook",
        "Facebook's link preview",
    ),
    _rule(r"Twitterbot", "link_preview", "twitter", "X/Twitter's link preview"),
    _rule(r"Applebot|iMessageLinkPreview", "link_preview", "apple", "Apple's link preview"),
    _rule(
        r"Google-PageRenderer|Google Web Preview",
        "link_preview",
        "google",
        "Google's page renderer",
    ),
    _rule(r"Barracuda|BarracudaCentral", "security_scanner", "barracuda", "Barracuda's scanner"),
    _rule(r"Mimecast", "security_scanner", "mimecast", "Mimecast's scanner"),
    _rule(r"Proofpoint|PPS/|URLDefense", "security_scanner", "proofpoint", "Proofpoint's scanner"),
    _rule(
        r"HeadlessChrome|PhantomJS|Puppeteer|Playwright|Selenium|Electron/[\d.]+ Safari",
        "generic_bot",
        "headless_browser",
        "a headless browser",
    ),
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
    return None
