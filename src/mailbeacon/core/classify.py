"""Who caused a hit: a person, or a machine (privacy proxy, scanner, link preview, bot).

:func:`classify` judges the hits of one recipient's copy together (bursts need their
neighbours) and gives each a :class:`Verdict`: a classification, a probability that a
machine made it (0-100), the proxy type and machine family when known, Lettermint's reason
code categories, the specific signals that fired (``details``), and whether it counts for
metrics. Labels, not drops: every hit gets a verdict and none is discarded.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Classification", "Hit", "Verdict", "classify"]


class Classification(enum.Enum):
    GENUINE = "genuine"
    PRIVACY_PROXY = "privacy_proxy"
    SECURITY_SCANNER = "security_scanner"
    LINK_PREVIEW = "link_preview"
    GENERIC_BOT = "generic_bot"


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # "open", "click", "honeypot"
    method: str = "GET"
    user_agent: str = ""
    at: datetime | None = None
    sent_at: datetime | None = None
    link_index: int | None = None
    ip: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    classification: Classification
    probability: int
    proxy_type: str | None
    family: str | None
    reason_codes: tuple[str, ...]
    details: tuple[str, ...]
    machine: bool
    counts_for_metrics: bool


@dataclass(frozen=True, slots=True)
class _Agent:
    pattern: re.Pattern[str]
    classification: Classification
    family: str
    proxy_type: str | None = None
    counts: bool = False  # an image proxy fetching because a person opened the message


def _agent(pattern: str, classification: Classification, family: str, **kw: object) -> _Agent:
    return _Agent(re.compile(pattern, re.IGNORECASE), classification, family, **kw)  # type: ignore[arg-type]


_PROXY, _PREVIEW, _BOT = (
    Classification.PRIVACY_PROXY,
    Classification.LINK_PREVIEW,
    Classification.GENERIC_BOT,
)
# User agents that identify themselves. Order matters: the first match wins.
_AGENTS = (
    _agent(r"GoogleImageProxy", _PROXY, "google", proxy_type="gmail_image_proxy", counts=True),
    _agent(r"YahooMailProxy", _PROXY, "yahoo", proxy_type="yahoo_mail_proxy", counts=True),
    _agent(r"Slackbot|Slack-ImgProxy", _PREVIEW, "slack"),
    _agent(r"SkypeUriPreview", _PREVIEW, "microsoft_teams"),
    _agent(r"MicrosoftPreview", _PREVIEW, "microsoft_preview"),
    _agent(r"Discordbot", _PREVIEW, "discord"),
    _agent(r"TelegramBot", _PREVIEW, "telegram"),
    _agent(r"WhatsApp/[\d.]+ [AWi]\b|^WhatsApp/", _PREVIEW, "whatsapp"),
    _agent(r"LinkedInBot", _PREVIEW, "linkedin"),
    _agent(r"facebookexternalhit|Facebot", _PREVIEW, "facebook"),
    _agent(r"Twitterbot", _PREVIEW, "twitter"),
    _agent(r"HeadlessChrome|PhantomJS|Puppeteer|Playwright", _BOT, "headless_browser"),
    _agent(
        r"^(?:curl|Wget|python-requests|python-httpx|aiohttp|Go-http-client|"
        r"okhttp|Java|libwww-perl|axios|node-fetch)\b",
        _BOT,
        "http_library",
    ),
    _agent(r"\b(?:bot|crawler|spider)\b", _BOT, "crawler"),
)


def classify(hits: Sequence[Hit]) -> list[Verdict]:
    """A verdict for each hit of one recipient's copy, in order."""
    return [_judge(hit) for hit in hits]


def _judge(hit: Hit) -> Verdict:
    if hit.kind == "honeypot":
        return _machine(
            Classification.GENERIC_BOT,
            100,
            None,
            ("known_bot", "link_pattern"),
            ("followed the hidden honeypot link",),
        )
    for agent in _AGENTS:
        if agent.pattern.search(hit.user_agent):
            if agent.counts and hit.kind == "open":
                return Verdict(
                    agent.classification,
                    20,
                    agent.proxy_type,
                    agent.family,
                    ("image_proxy",),
                    (f"user agent is {agent.family}'s image proxy",),
                    machine=False,
                    counts_for_metrics=True,
                )
            return _machine(
                agent.classification,
                95,
                agent.family,
                ("known_bot",),
                (f"user agent names {agent.family}",),
                agent.proxy_type,
            )
    if hit.method == "HEAD":
        return _machine(_BOT, 90, None, ("request_shape",), ("HEAD request: nobody reads one",))
    return Verdict(
        Classification.GENUINE, 5, None, None, (), (), machine=False, counts_for_metrics=True
    )


def _machine(
    classification: Classification,
    probability: int,
    family: str | None,
    reasons: tuple[str, ...],
    details: tuple[str, ...],
    proxy_type: str | None = None,
) -> Verdict:
    return Verdict(
        classification,
        probability,
        proxy_type,
        family,
        reasons,
        details,
        machine=True,
        counts_for_metrics=False,
    )
