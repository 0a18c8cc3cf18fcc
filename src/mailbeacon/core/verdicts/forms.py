"""User-agent forms: how unlisted tools announce themselves, and what people's devices and
apps look like when no browser is named (core/verdicts/agents.py asks these after its tables
and CrawlerDetect).

- a tool's own announcement: a web or mail address, a word such as scanner, security, audit or
  health among the parts of a product name, ``compatible;`` outside MSIE, ``Mozilla/5.0`` not
  followed by its platform comment, or naming no platform and no engine;
- a phone, a feature phone, a TV or a console, named by its maker or its own browser: a
  person's, whatever words its model name holds;
- an *unknown client*: an app on the phone's own HTTP stack (CFNetwork, Alamofire, OkHttp,
  Cronet, Dalvik) or a product that names no browser, platform or device: weak evidence either
  way (core/verdicts/classify.py lets the hit's other signals decide), unless it is a bare
  name, a first release or one lower-case product, which are tools.

Each answer carries ``certainty``: the share of machines among the hits of the development part
of the labelled evaluation (tests/core/test_classify_evaluation.py) that had such a form.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "ANNOUNCED",
    "BARE_NAME",
    "NATIVE_STACK",
    "PLATFORM",
    "UNKNOWN_CLIENT",
    "Form",
    "announced",
    "in_device_model",
    "unknown",
]


class Form(NamedTuple):
    classification: str  # generic_bot, security_scanner or unknown_client
    family: str
    detail: str
    certainty: int


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


# A platform or a person's device named anywhere: what browsers, mail clients, phones, TVs and
# consoles say and tools do not. Whole words, so "Windows" is not found in "WindowsUpdateBot".
PLATFORM = re.compile(
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
NATIVE_STACK = re.compile(
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


def in_device_model(agent: str, position: int) -> bool:
    """Whether ``position`` falls in the device model of an Android browser's platform comment
    (``(Linux; Android 12; <model> Build/...)``), which names a phone, never a tool."""
    model = _device_model(agent)
    return model is not None and model[0] <= position < model[1]


def _device_model(agent: str) -> tuple[int, int] | None:
    android = _ANDROID_MODEL.search(agent)
    return android.span(1) if android else None


def announced(agent: str) -> Form | None:
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
        return Form(
            "security_scanner",
            "self_announced",
            detail=f"user agent calls itself a {scanner}",
            certainty=ANNOUNCED,
        )
    if _ADDRESS.search(agent):
        return Form(
            "generic_bot",
            "self_announced",
            detail="user agent carries a web or mail address",
            certainty=ANNOUNCED,
        )
    if device:
        return None  # a phone's or a TV's, whatever words its model name holds ("HTC Radar")
    word = next(iter(sorted(words & _TOOL_WORDS)), None)
    if word is not None:
        return Form(
            "generic_bot",
            "self_announced",
            detail=f"user agent calls itself a {word}",
            certainty=ANNOUNCED,
        )
    if _COMPATIBLE.search(agent) and not _COMPATIBLE_BROWSER.search(agent):
        return Form(
            "generic_bot",
            "self_announced",
            detail="a 'compatible;' user agent that no browser of today sends",
            certainty=ANNOUNCED,
        )
    if _NO_PLATFORM_COMMENT.match(agent):
        return Form(
            "generic_bot",
            "self_announced",
            detail="'Mozilla/5.0' followed by product tokens instead of its platform comment",
            certainty=ANNOUNCED,
        )
    if agent.startswith("Mozilla/") and not PLATFORM.search(agent) and not _ENGINE.search(agent):
        return Form(
            "generic_bot",
            "self_announced",
            detail="a 'Mozilla/' user agent naming no platform and no browser engine",
            certainty=ANNOUNCED,
        )
    return None


def unknown(agent: str) -> Form | None:
    if NATIVE_STACK.search(agent):
        return Form(
            "unknown_client",
            "native_app",
            detail="user agent is an app's own HTTP stack (CFNetwork, OkHttp, ...)",
            certainty=UNKNOWN_CLIENT,
        )
    if agent.startswith("Mozilla/") or PLATFORM.search(agent) or _DEVICE.search(agent):
        return None  # a browser, a mail client, a phone, a TV: a person's
    if "/" not in agent:
        return Form(
            "generic_bot",
            "unknown_tool",
            detail="user agent is a bare name, without a version or a platform",
            certainty=BARE_NAME,
        )
    if _FIRST_RELEASE.match(agent):
        return Form(
            "generic_bot",
            "unknown_tool",
            detail="user agent is one product at version 0.x or 1.0, with nothing else",
            certainty=BARE_NAME,
        )
    if _LOWER_PRODUCT.match(agent):
        # Libraries and scripts name themselves so (curl, wget, colly); apps carry their
        # brand's capitals.
        return Form(
            "generic_bot",
            "unknown_tool",
            detail="user agent is one product named in lower case, with nothing else",
            certainty=BARE_NAME,
        )
    return Form(
        "unknown_client",
        "unknown_client",
        detail="user agent is neither a browser's, a mail client's nor a device's",
        certainty=UNKNOWN_CLIENT,
    )
