"""Who a user agent says it is.

Two sources, in this order:

1. mailbeacon's own table of the agents that matter for email and that general crawler lists
   get wrong or miss: the mail providers' image proxies, Apple Mail Privacy Protection's bare
   ``Mozilla/5.0``, chat and social link previews, and the people who look like bots
   (Outlook's ``ms-office`` agents, the WhatsApp app's in-app browser, phones called "Cubot").
2. CrawlerDetect (``crawlerdetect``, a port of the maintained JayBizzle/Crawler-Detect list)
   for every other crawler, HTTP library and headless browser, trusted only where its match is
   a whole name: "Curl" inside "Curlew" or "Bot" inside a phone's model name is nobody's tool;
3. the forms in which tools announce themselves without being listed anywhere: a URL or a mail
   address to write to, a word such as scanner, security, audit or health inside a product
   name, a ``Mozilla/`` form that names no platform and no browser engine, a product token
   written before ``Mozilla/``;
4. what is left and names no platform either (an app on iOS's CFNetwork or Android's OkHttp, a
   feature phone, a set-top box) is an *unknown client*: weak evidence, which other signals of
   the hit decide (core/verdicts/classify.py).

Each answer carries ``certainty``: of the hits with such an agent in the development part of
the labelled evaluation (tests/core/test_classify_evaluation.py), the share made by machines.
It is the verdict's probability when nothing else is known, so the probability means what it
says.
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
    # privacy_proxy, link_preview, security_scanner, generic_bot, genuine, or unknown_client
    classification: str
    family: str | None
    proxy_type: str | None = None
    detail: str = ""
    certainty: int = 99  # the share of machines among hits with such an agent, in percent


# Calibrated on the development part of the labelled evaluation (python -m
# tests.core.test_classify_evaluation): the share of machines among the hits whose agent
# announced itself in one of the forms below (205 of 210), or was a bare or first-release
# product (45 of 46).
ANNOUNCED = 97
BARE_NAME = 97
# Apps on their own HTTP stack and other unknown clients: 9 machines among 29 in the
# development part (31%, between 15% and 49% at 95% confidence), held at 40, inside that, so
# that it stays uncertain and one more weak signal of the hit decides it (classify.py).
UNKNOWN_CLIENT = 40


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
# A platform or a person's device named anywhere: what browsers, mail clients, phones, TVs and
# consoles say and tools do not. Whole words, so "Windows" is not found in "WindowsUpdateBot".
_PLATFORM = re.compile(
    r"\b(?:Windows|Win(?:32|64|98|95|NT)|Macintosh|Mac ?OS|Mac_PowerPC|Darwin|iPhone|iPad|iPod|"
    r"iOS|Android|Linux|X11|Ubuntu|Fedora|CrOS|FreeBSD|OpenBSD|NetBSD|SunOS|Fuchsia|"
    r"BlackBerry|BB10|Symbian(?:OS)?|Series ?[346]0|S60|Nokia|MIDP|CLDC|J2ME|Profile|KaiOS|"
    r"Tizen|Web0S|webOS|SMART-TV|SmartTV|HbbTV|NetCast|Roku|CrKey|AppleTV|tvOS|watchOS|"
    r"PlayStation|Nintendo|Xbox|Kindle|Silk|Opera|Presto|Trident|UCWEB|UCBrowser|Dolphin|"
    r"Mobile|Tablet|Outlook|Thunderbird|Mail)\b",
    re.IGNORECASE,
)
_ENGINE = re.compile(
    r"AppleWebKit|Gecko|KHTML|Trident|Presto|Chrome/|Safari/|Firefox/|MSIE|Edge?/|Opera",
    re.IGNORECASE,
)
# Apps on the phone's own HTTP stack: iOS (CFNetwork, Alamofire) and Android (OkHttp, Cronet,
# Dalvik). A person opens an image or a link through an app: an unknown client, not a bot.
_NATIVE_STACK = re.compile(
    r"\bCFNetwork/|\bAlamofire/|\bNSURLSession\b|^okhttp/|\bokhttp3?\b|\bCronet\b|^Dalvik/",
    re.IGNORECASE,
)
# Words in a product name with which tools introduce themselves; matched against the parts of a
# product token ("RSiteAuditor" is R, Site, Auditor), never inside a part.
_TOOL_WORDS = frozenset(
    {
        "scanner",
        "scanning",
        "security",
        "research",
        "researcher",
        "audit",
        "auditor",
        "check",
        "checker",
        "health",
        "healthcheck",
        "monitor",
        "monitoring",
        "uptime",
        "synthetic",
        "synthetics",
        "probe",
        "scraper",
        "scraping",
        "crawler",
        "spider",
        "fetcher",
        "validator",
        "verifier",
        "inspector",
        "analyzer",
        "analyser",
        "headless",
        "automation",
        "webhook",
        "webhooks",
        "exporter",
        "callout",
        "favicon",
        "watchdog",
        "archiver",
        "archiving",
        "downloader",
        "http",
        "agent",
    }
)
_SCANNER_WORDS = frozenset(
    {"scanner", "scanning", "security", "audit", "auditor", "probe", "inspector", "verifier"}
)
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# A web address or a mail address to write to: browsers never carry one, tools often do. A bare
# domain counts as a product name of its own ("Criticalcss.com/2.0"), not as a value inside
# another token (a carrier's "FBCR/Telekom.de;" in Facebook's app).
_ADDRESS = re.compile(
    r"https?://|\bwww\.|[\w.+-]+@[\w-]+\.[a-z]{2,}|\[at\]|"
    r"(?:^|(?<=[\s(;]))(?!(?:com|org|net)\.)[a-z][\w-]*(?:\.[a-z][\w-]*)*\."
    r"(?:com|net|org|io|ai|info|biz|dev|app|co|me|ly|gy|fr|de|ru|jp|cn|uk|nl|cz|pl|eu|us|ua|nu|"
    r"goog|tech|cloud|site|online|xyz)(?=[/\s)]|$)",
    re.IGNORECASE,
)
# "compatible;" is what MSIE and Konqueror wrote; a WebKit or Gecko browser never does, the
# tools that imitate one do ("(KHTML, like Gecko; compatible; Google-Agent)").
_COMPATIBLE = re.compile(r"\bcompatible\s*;", re.IGNORECASE)
# Every browser since Netscape 6 writes its platform comment right after "Mozilla/5.0".
_NO_PLATFORM_COMMENT = re.compile(r"Mozilla/5\.0 (?!\()")
_COMPATIBLE_BROWSER = re.compile(r"MSIE|Trident|Konqueror|IEMobile|Opera", re.IGNORECASE)
# CrawlerDetect's generic words, which may end a longer name ("ExampleCrawler", "SiteBot").
_GENERIC_MATCH = re.compile(r"bot|crawl|spider|slurp", re.IGNORECASE)
# A phone, a feature phone, a TV or a console by its maker or its own browser: a person's
# device, whatever else its user agent lacks. Makers are whole words, case-sensitive after
# them ("SonyEricssonK750", "LG-KP500", "MOT-V3r", "SAMSUNG-SGH-C417").
_DEVICE = re.compile(
    r"(?<![A-Za-z])(?i:SAMSUNG|SEC|LGE?|MOT|Motorola|HTC|Nokia|SonyEricsson|Sony|SIE|Siemens|"
    r"Alcatel|Kyocera|KWC|DoCoMo|SoftBank|Vodafone|KDDI|WILLCOM|DDIPOCKET|J-PHONE|Lenovo|"
    r"Huawei|ZTE|Xiaomi|Panasonic|Sharp|SANYO|NEC|Philips|SAGEM|Pantech|BenQ|Palm|Haier|TCL|"
    r"Micromax|Tecno|Infinix|OPPO|vivo|Realme|OnePlus|Meizu|ASUS|Acer|sprd|Spreadtrum|"
    r"UP\.Browser|UP\.Link|NetFront|Obigo|Teleca|OpenWave|BrowserNG|Opera Mini|Polaris|"
    r"Dorado|Jasmine|MAUI|Brew|jig browser|Blazer|Mms|BRAVIA|AFT[A-Z]+|Chromecast|DTV|"
    r"SmartTV|SMART-TV|STB|Set-?Top|BlackBerry|AppleTV|Roku)(?=[^a-z]|$)"
)
# One product at its first version and nothing more (an optional comment): scripts and
# services start there and stay; the apps people use are past it.
_FIRST_RELEASE = re.compile(
    r"[^/\s()]+(?: [^/\s()]+)?/(?:0\.\d+(?:\.\d+)?|1\.0(?:\.0)?)(?: \([^)]*\))?$"
)
_LOWER_PRODUCT = re.compile(r"[a-z][a-z0-9_.-]*/\S+$")
_ANDROID_MODEL = re.compile(r"\(Linux;(?: U;)? Android[^;)]*;(?: [a-z]{2}[-_][a-z]{2};)?([^;)]*)")
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
    desktop_app = _DESKTOP_APP.search(agent) is not None and _PLATFORM.search(agent) is not None
    app = desktop_app or _NATIVE_STACK.search(agent) is not None
    listed = _listed_tool(agent, generic_only=app)
    return listed or _announced_tool(agent) or _unknown_client(agent)


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
    if _in_device_model(agent, start):
        return False
    if _GENERIC_MATCH.search(match):
        return True  # "bot", "crawl": a word that ends or starts many tools' names
    before = agent[start - 1] if start else " "
    after = agent[end] if end < len(agent) else " "
    inside = (match[0].isalnum() and before.isalnum()) or (match[-1].isalnum() and after.isalpha())
    return not inside


def _in_device_model(agent: str, position: int) -> bool:
    """Whether ``position`` falls in the device model of an Android browser's platform comment
    (``(Linux; Android 12; <model> Build/...)``), which names a phone, never a tool."""
    model = _device_model(agent)
    return model is not None and model[0] <= position < model[1]


def _device_model(agent: str) -> tuple[int, int] | None:
    android = _ANDROID_MODEL.search(agent)
    return android.span(1) if android else None


def _announced_tool(agent: str) -> Agent | None:
    """A tool that says what it is in a form no list has yet."""
    device = _DEVICE.search(agent) is not None
    model = _device_model(agent)
    named = agent if model is None else agent[: model[0]] + agent[model[1] :]
    words = {
        part.lower()
        for token in re.split(r"[^A-Za-z0-9]+", named)
        for part in _PARTS.findall(token)
    }
    scanner = None if device else next(iter(sorted(words & _SCANNER_WORDS)), None)
    if scanner is not None:
        # A self-declared scanner following a mail's link is checking it, as mail-security
        # products do.
        return Agent(
            "security_scanner",
            "self_announced",
            detail=f"user agent calls itself a {scanner}",
            certainty=ANNOUNCED,
        )
    if _ADDRESS.search(agent):
        return Agent(
            "generic_bot",
            "self_announced",
            detail="user agent carries a web or mail address",
            certainty=ANNOUNCED,
        )
    if device:
        return None  # a phone's or a TV's, whatever words its model name holds ("HTC Radar")
    word = next(iter(sorted(words & _TOOL_WORDS)), None)
    if word is not None:
        return Agent(
            "generic_bot",
            "self_announced",
            detail=f"user agent calls itself a {word}",
            certainty=ANNOUNCED,
        )
    if _COMPATIBLE.search(agent) and not _COMPATIBLE_BROWSER.search(agent):
        return Agent(
            "generic_bot",
            "self_announced",
            detail="a 'compatible;' user agent that no browser of today sends",
            certainty=ANNOUNCED,
        )
    if _NO_PLATFORM_COMMENT.match(agent):
        return Agent(
            "generic_bot",
            "self_announced",
            detail="'Mozilla/5.0' followed by product tokens instead of its platform comment",
            certainty=ANNOUNCED,
        )
    if agent.startswith("Mozilla/") and not _PLATFORM.search(agent) and not _ENGINE.search(agent):
        return Agent(
            "generic_bot",
            "self_announced",
            detail="a 'Mozilla/' user agent naming no platform and no browser engine",
            certainty=ANNOUNCED,
        )
    return None


def _unknown_client(agent: str) -> Agent | None:
    if _NATIVE_STACK.search(agent):
        return Agent(
            "unknown_client",
            "native_app",
            detail="user agent is an app's own HTTP stack (CFNetwork, OkHttp, ...)",
            certainty=UNKNOWN_CLIENT,
        )
    if agent.startswith("Mozilla/") or _PLATFORM.search(agent) or _DEVICE.search(agent):
        return None  # a browser, a mail client, a phone, a TV: a person's
    if "/" not in agent:
        return Agent(
            "generic_bot",
            "unknown_tool",
            detail="user agent is a bare name, without a version or a platform",
            certainty=BARE_NAME,
        )
    if _FIRST_RELEASE.match(agent):
        return Agent(
            "generic_bot",
            "unknown_tool",
            detail="user agent is one product at version 0.x or 1.0, with nothing else",
            certainty=BARE_NAME,
        )
    if _LOWER_PRODUCT.match(agent):
        # Libraries and scripts name themselves so (curl, wget, colly); apps carry their
        # brand's capitals.
        return Agent(
            "generic_bot",
            "unknown_tool",
            detail="user agent is one product named in lower case, with nothing else",
            certainty=BARE_NAME,
        )
    return Agent(
        "unknown_client",
        "unknown_client",
        detail="user agent is neither a browser's, a mail client's nor a device's",
        certainty=UNKNOWN_CLIENT,
    )
