"""Who caused a hit: a person, or a machine (privacy proxy, scanner, link preview, bot).

:func:`classify` judges the hits of one recipient's copy together, because the strongest
signals are patterns: a security scanner clicks several links within a second, often 40 s or
more after delivery, where a time cut-off alone would miss it. Each hit gets a
:class:`Verdict` that explains itself:

- ``classification``: genuine, privacy_proxy, security_scanner, link_preview, generic_bot;
- ``probability``: 0-100, how likely a machine made the hit;
- ``proxy_type`` (privacy proxies) and ``family`` (the scanner, preview or bot, when known);
- ``reason_codes``: Lettermint's broad categories; ``details``: the signals that fired;
- ``machine`` and ``counts_for_metrics``: a genuine hit, or an image-proxy open that a mail
  provider only makes when the person opens the message (Gmail, Yahoo), counts; Apple MPP
  fetches (at delivery or later: Apple fetches whether or not anyone reads), prefetches,
  scanners, previews and bots do not. An unknown client (an app's own HTTP stack) is
  uncertain: its probability sits near the middle and the hit's other signals decide.

``probability`` is calibrated: each kind of evidence carries the share of machines among the
hits it fired on in the development part of the labelled evaluation
(tests/core/test_classify_evaluation.py), which checks the held-out part's reliability.

Signals, each an :class:`Evidence` with a strength; no single weak one decides:

1. the user agent (core/verdicts/agents.py): image proxies, Apple MPP, previews, crawlers,
   tools, self-announced tools, unknown clients;
2. the request's shape: HEAD, prefetch headers; a missing Accept-Language only corroborates;
3. the network (core/verdicts/networks.py): mail-security ranges ("certain" or "probable"); Apple's
   relay confirms an MPP open (and never demotes a click); the webmail image-proxy networks of
   Google and Microsoft are never bots for opens;
4. timing over the copy: several distinct links within about a second, every link clicked,
   a click within seconds of delivery. An open and a click in the same second (what Outlook
   desktop users do) is not a pattern;
5. the honeypot: a hit on it is a machine, and that client's other hits around it are suspect.

The patterns are found in one sweep over the copy's clicks in time order (a window's two edges
moving forward) and a lookup of each client's honeypot hits, not by comparing every pair of
hits: a copy's thousands of hits (a link posted publicly, a bot looping) cost their number, not
its square (tests/core/test_classify_patterns.py holds the sweep to the pairwise definition).
"""

from __future__ import annotations

import bisect
import enum
import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

from .agents import identify
from .networks import NetworkRange, NetworkTable

__all__ = ["Classification", "Evidence", "Hit", "Verdict", "classify"]

BURST_WINDOW = timedelta(seconds=1.5)  # distinct links clicked this close: a scanner
HONEYPOT_WINDOW = timedelta(seconds=5)  # hits this close to a honeypot hit, same client
TOO_SOON = timedelta(seconds=2)  # a click this soon after delivery: nobody has read it
ALL_LINKS_WINDOW = timedelta(minutes=2)
# A burst over several links, or every link clicked, is a machine's pattern, but on its own (a
# browser's request from an ordinary address) it may be security software on the reader's own
# computer, or a reader opening every link in tabs: uncertain until a scanner's network, a
# tool's user agent or a missing browser header adds to it.
BURST = 70
ALL_LINKS = 65
MACHINE_AT = 50  # a probability from here on is a machine
# A hit with nothing against it: the share of machines among such hits in the development part
# of the labelled evaluation (tests/core/test_classify_evaluation.py).
PERSON = 1
# The mailbox providers' image proxies fetch the pixel when their user opens the message: the
# open is the person's, made through a proxy, and counts. Every other privacy proxy (Apple MPP,
# prefetch proxies) fetches whether or not anyone reads: its hits are machines' and do not.
READERS_PROXIES = frozenset({"gmail_image_proxy", "yahoo_mail_proxy", "yandex_userproxy"})


class Classification(enum.Enum):
    GENUINE = "genuine"
    PRIVACY_PROXY = "privacy_proxy"
    SECURITY_SCANNER = "security_scanner"
    LINK_PREVIEW = "link_preview"
    GENERIC_BOT = "generic_bot"


# Hit, Verdict and Evidence are NamedTuples: immutable records like frozen dataclasses, but
# several times cheaper to make, and the promoter makes a few per observation.
class Hit(NamedTuple):
    kind: str  # "open", "click", "honeypot"
    method: str = "GET"
    user_agent: str = ""
    at: datetime | None = None
    sent_at: datetime | None = None  # when the copy was handed to the upstream
    link_index: int | None = None
    ip: str | None = None
    headers: Mapping[str, str] = MappingProxyType({})


class Verdict(NamedTuple):
    classification: Classification
    probability: int
    proxy_type: str | None
    family: str | None
    reason_codes: tuple[str, ...]
    details: tuple[str, ...]
    machine: bool
    counts_for_metrics: bool


class Evidence(NamedTuple):
    classification: Classification
    probability: int  # how sure this signal alone is that a machine made the hit
    reason: str  # a Lettermint reason-code category
    detail: str
    family: str | None = None
    proxy_type: str | None = None
    image_proxy: bool = False  # a provider fetching because the person opened the message
    corroborating: bool = False  # only strengthens other evidence


_SCANNER_FAMILY = {
    "microsoft_eop": "microsoft_safe_links",
    "proofpoint": "proofpoint",
    "mimecast": "mimecast",
    "barracuda": "barracuda",
    "cisco": "cisco_secure_email",
}
# On equal strength the more specific label wins: a scanner's hit without a user agent is
# still the scanner's.
_SPECIFIC = {
    Classification.SECURITY_SCANNER: 4,
    Classification.LINK_PREVIEW: 3,
    Classification.PRIVACY_PROXY: 2,
    Classification.GENERIC_BOT: 1,
    Classification.GENUINE: 0,
}
_PREFETCH_HEADERS = {
    "sec-purpose": "prefetch",
    "purpose": "prefetch",
    "x-purpose": "preview",
    "x-moz": "prefetch",
}
_C = Classification
_NEVER = datetime.min.replace(tzinfo=UTC)  # sorts a hit without a time (none reach it)


def classify(
    hits: Sequence[Hit],
    *,
    networks: NetworkTable | None = None,
    link_count: int | None = None,
    context: Sequence[Hit] = (),
) -> list[Verdict]:
    """A verdict for each hit of one recipient's copy, in order.

    ``link_count`` (the copy's tracked links) lets "every link clicked" be seen; ``context``
    holds the copy's earlier, already judged hits, which patterns may span but which get no
    verdict again. Only its clicks and honeypot hits take part in a pattern, and never by
    their ``sent_at``: a caller may leave its opens out (the promoter does, see
    core/history.py).
    """
    table = networks or NetworkTable(())
    everything = [*context, *hits]
    skip = len(context)
    alone = [
        _alone(hit.kind, hit.method, hit.user_agent, table.lookup(hit.ip), _key(hit.headers))
        for hit in hits
    ]
    evidence: list[list[Evidence]] = [[] for _ in context]
    evidence += [list(own) for own, _ in alone]
    clicks = _clicks(everything)
    _bursts(everything, clicks, evidence, skip)
    _all_links(everything, clicks, evidence, link_count, skip)
    _honeypot_company(everything, evidence, skip)
    _too_soon(everything, clicks, evidence, skip)
    return [
        verdict if len(found) == len(own) else _decided(hit.kind, tuple(found))
        for hit, found, (own, verdict) in zip(hits, evidence[skip:], alone, strict=True)
    ]


# A hit's own evidence, and its verdict when no pattern adds to it, depend only on what the
# request looked like; a verdict depends only on the hit's kind and its evidence. The same few
# hundred agents, networks and header sets repeat, so both are remembered: judging them anew
# took the promoter ~25 us a hit.
@functools.lru_cache(maxsize=20_000)
def _alone(
    kind: str,
    method: str,
    user_agent: str,
    network: NetworkRange | None,
    headers: tuple[tuple[str, str], ...],
) -> tuple[tuple[Evidence, ...], Verdict]:
    hit = Hit(kind, method, user_agent, headers=dict(headers))
    found = _own_evidence(hit, network)
    return tuple(found), _decide(hit, found)


@functools.lru_cache(maxsize=20_000)
def _decided(kind: str, found: tuple[Evidence, ...]) -> Verdict:
    return _decide(Hit(kind), list(found))


def _key(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(headers.items()) if headers else ()


def _own_evidence(hit: Hit, network: NetworkRange | None) -> list[Evidence]:
    """What one hit shows by itself."""
    found: list[Evidence] = []
    webmail_open = hit.kind == "open" and network is not None and network.role == "image_proxy"
    if hit.kind == "honeypot":
        found.append(
            Evidence(_C.GENERIC_BOT, 100, "link_pattern", "followed the hidden honeypot link")
        )
    agent = identify(hit.user_agent)
    if agent is not None and agent.classification == "unknown_client":
        # Weak either way: an app a person uses, or a tool nobody lists. It only adds to what
        # the hit's other signals say (network, timing, request shape, the honeypot).
        found.append(
            Evidence(
                _C.GENERIC_BOT,
                agent.certainty,
                "unknown_client",
                agent.detail,
                family=agent.family,
                corroborating=True,
            )
        )
    elif agent is not None and agent.classification != "genuine":
        found.append(
            _agent_evidence(
                hit,
                agent.classification,
                agent.family,
                agent.proxy_type,
                agent.detail,
                network,
                agent.certainty,
            )
        )
    if network is not None:
        network_evidence = _network_evidence(hit, network)
        if network_evidence is not None:
            found.append(network_evidence)
    if webmail_open:
        # Google's and Microsoft's webmail fetch images only when the person opens: never a
        # bot for opens, whatever else the request looks like.
        assert network is not None
        proxy = f"{network.provider}_image_proxy"
        found = [e for e in found if e.image_proxy or e.classification is _C.PRIVACY_PROXY]
        if not found:
            found.append(
                Evidence(
                    _C.PRIVACY_PROXY,
                    PERSON,
                    "image_proxy",
                    f"fetched through {network.provider}'s image proxy network",
                    family=network.provider,
                    proxy_type=proxy,
                    image_proxy=True,
                )
            )
        return found
    if hit.method == "HEAD":
        found.append(
            Evidence(_C.GENERIC_BOT, 90, "request_shape", "a HEAD request: nobody reads one")
        )
    for name, marker in _PREFETCH_HEADERS.items():
        value = hit.headers.get(name, "")
        if marker in value.lower():
            found.append(
                Evidence(_C.GENERIC_BOT, 85, "request_shape", f"a prefetch ({name}: {value})")
            )
            break
    if "accept-language" not in hit.headers:
        found.append(
            Evidence(
                _C.GENERIC_BOT, 10, "request_shape", "no Accept-Language header", corroborating=True
            )
        )
    return found


def _agent_evidence(
    hit: Hit,
    classification: str,
    family: str | None,
    proxy_type: str | None,
    detail: str,
    network: NetworkRange | None,
    certainty: int = 95,
) -> Evidence:
    if classification == "privacy_proxy" and proxy_type == "apple_mpp":
        if hit.kind != "open":
            return Evidence(
                _C.GENERIC_BOT,
                80,
                "request_shape",
                "a bare 'Mozilla/5.0' user agent on a click",
                family="unknown",
            )
        confirmed = network is not None and network.role == "apple_relay"
        return Evidence(
            _C.PRIVACY_PROXY,
            95 if confirmed else 85,
            "privacy_proxy",
            detail + (", from Apple's relay network" if confirmed else ""),
            family="apple",
            proxy_type="apple_mpp",
        )
    if classification == "privacy_proxy" and proxy_type not in READERS_PROXIES:
        # A prefetch proxy fetches ahead of anyone reading: a machine's hit, open or click.
        return Evidence(
            _C.PRIVACY_PROXY if hit.kind == "open" else _C.GENERIC_BOT,
            certainty,
            "privacy_proxy" if hit.kind == "open" else "known_bot",
            f"user agent is {detail}",
            family=family,
            proxy_type=proxy_type if hit.kind == "open" else None,
        )
    if classification == "privacy_proxy":
        if hit.kind == "open":
            return Evidence(
                _C.PRIVACY_PROXY,
                PERSON,
                "image_proxy",
                f"user agent is {detail}",
                family=family,
                proxy_type=proxy_type,
                image_proxy=True,
            )
        return Evidence(_C.GENERIC_BOT, 80, "known_bot", f"{detail} on a click", family=family)
    kind = {"link_preview": _C.LINK_PREVIEW, "security_scanner": _C.SECURITY_SCANNER}.get(
        classification, _C.GENERIC_BOT
    )
    reason = "link_protection" if kind is _C.SECURITY_SCANNER else "known_bot"
    text = (
        detail if detail.startswith(("user agent", "no User-Agent")) else f"user agent is {detail}"
    )
    return Evidence(kind, certainty, reason, text, family=family)


def _network_evidence(hit: Hit, network: NetworkRange) -> Evidence | None:
    if network.role == "scanner":
        certain = network.confidence == "certain"
        return Evidence(
            _C.SECURITY_SCANNER,
            95 if certain else 70,
            "security_network",
            f"address in {network.provider}'s mail-security network ({network.confidence})",
            family=_SCANNER_FAMILY.get(network.provider, network.provider),
        )
    if network.role == "apple_relay" and hit.kind == "open":
        return Evidence(
            _C.PRIVACY_PROXY,
            10,
            "privacy_proxy",
            "address in Apple's relay network",
            corroborating=True,
            family="apple",
        )
    return None  # a relay address never demotes a click


def _clicks(hits: Sequence[Hit]) -> list[int]:
    """The clicks' positions in ``hits``, in the order they were made."""
    found = [i for i, h in enumerate(hits) if h.kind == "click" and h.at is not None]
    found.sort(key=lambda i: hits[i].at or _NEVER)  # stable: ties keep their order
    return found


def _distinct_near(hits: Sequence[Hit], clicks: list[int], window: timedelta) -> list[int]:
    """For each click (``clicks`` in time order), how many distinct links were clicked within
    ``window`` of it, itself included: one sweep with the window's two edges moving forward,
    so a copy's thousands of clicks (a bot looping on its links) cost their number, not its
    square."""
    times = [hits[i].at or _NEVER for i in clicks]
    links = [hits[i].link_index for i in clicks]
    inside: dict[int | None, int] = {}  # link -> its clicks between the edges
    found: list[int] = []
    low = high = 0
    end = len(clicks)
    for at in times:
        while high < end and times[high] - at <= window:
            inside[links[high]] = inside.get(links[high], 0) + 1
            high += 1
        while at - times[low] > window:
            left = inside[links[low]] - 1
            if left:
                inside[links[low]] = left
            else:
                del inside[links[low]]
            low += 1
        found.append(len(inside))
    return found


def _bursts(
    hits: Sequence[Hit], clicks: list[int], evidence: list[list[Evidence]], skip: int
) -> None:
    """Distinct links clicked within BURST_WINDOW of each other: no person does that."""
    for i, near in zip(clicks, _distinct_near(hits, clicks, BURST_WINDOW), strict=True):
        if i >= skip and near >= 2:
            evidence[i].append(_burst(near))


@functools.lru_cache(maxsize=256)
def _burst(links: int) -> Evidence:
    return Evidence(
        _C.SECURITY_SCANNER,
        BURST,
        "timing",
        f"{links} different links clicked within {_seconds(BURST_WINDOW)} s",
    )


def _all_links(
    hits: Sequence[Hit],
    clicks: list[int],
    evidence: list[list[Evidence]],
    link_count: int | None,
    skip: int,
) -> None:
    if not link_count or link_count < 3:
        return
    for i, near in zip(clicks, _distinct_near(hits, clicks, ALL_LINKS_WINDOW), strict=True):
        if i >= skip and near >= link_count:
            evidence[i].append(_every_link(link_count))


@functools.lru_cache(maxsize=256)
def _every_link(link_count: int) -> Evidence:
    return Evidence(
        _C.SECURITY_SCANNER,
        ALL_LINKS,
        "link_pattern",
        f"all {link_count} links clicked within {_seconds(ALL_LINKS_WINDOW)} s",
    )


_HONEYPOT_COMPANY = Evidence(
    _C.SECURITY_SCANNER,
    80,
    "link_pattern",
    "the same client followed the hidden honeypot link moments apart",
)


def _honeypot_company(hits: Sequence[Hit], evidence: list[list[Evidence]], skip: int) -> None:
    """The client that followed the honeypot: its other hits around then are suspect."""
    traps: dict[tuple[str | None, str], list[datetime]] = {}  # per client, in time order
    for hit in hits:
        if hit.kind == "honeypot" and hit.at is not None:
            traps.setdefault((hit.ip, hit.user_agent), []).append(hit.at)
    if not traps:
        return
    for moments in traps.values():
        moments.sort()
    for i in range(skip, len(hits)):
        hit = hits[i]
        if hit.kind == "honeypot" or hit.at is None:
            continue
        times = traps.get((hit.ip, hit.user_agent))
        if times is None:
            continue
        # the client's trap hits nearest before and after this one
        after = bisect.bisect_left(times, hit.at)
        near = [times[j] for j in (after - 1, after) if 0 <= j < len(times)]
        if any(abs(trap - hit.at) <= HONEYPOT_WINDOW for trap in near):
            evidence[i].append(_HONEYPOT_COMPANY)


def _too_soon(
    hits: Sequence[Hit], clicks: list[int], evidence: list[list[Evidence]], skip: int
) -> None:
    for i in clicks:
        if i < skip:
            continue
        hit = hits[i]
        if hit.sent_at is None or hit.at is None:
            continue
        delay = hit.at - hit.sent_at
        if delay < TOO_SOON:
            evidence[i].append(
                Evidence(
                    _C.SECURITY_SCANNER,
                    60,
                    "timing",
                    f"clicked {max(delay.total_seconds(), 0):.1f} s after delivery",
                )
            )


def _seconds(window: timedelta) -> str:
    return f"{window.total_seconds():g}"


def _decide(hit: Hit, found: list[Evidence]) -> Verdict:
    strong = [e for e in found if not e.corroborating and not e.image_proxy]
    support = [e for e in found if e.corroborating]
    reasons = tuple(dict.fromkeys(e.reason for e in found))
    details = tuple(e.detail for e in found)
    if not strong:
        image = next((e for e in found if e.image_proxy), None)
        if image is not None:
            return Verdict(
                _C.PRIVACY_PROXY,
                PERSON,
                image.proxy_type,
                image.family,
                tuple(dict.fromkeys(("image_proxy", *reasons))),
                details,
                machine=False,
                counts_for_metrics=True,
            )
        unknown = next((e for e in support if e.reason == "unknown_client"), None)
        if unknown is None:
            probability = min(40, PERSON + sum(e.probability for e in support))
        else:  # the unknown client's own share, moved by the hit's other weak signals
            probability = min(75, sum(e.probability for e in support))
        if probability >= MACHINE_AT:
            return Verdict(
                _C.GENERIC_BOT,
                probability,
                None,
                unknown.family if unknown else None,
                reasons,
                details,
                machine=True,
                counts_for_metrics=False,
            )
        return Verdict(
            _C.GENUINE,
            probability,
            None,
            None,
            reasons if support and probability >= 20 else (),
            details,
            machine=False,
            counts_for_metrics=True,
        )
    primary = max(strong, key=lambda e: (e.probability, _SPECIFIC[e.classification]))
    others = len(strong) - 1 + len(support)
    probability = min(99, primary.probability + 5 * others)
    family = primary.family or next((e.family for e in strong if e.family), None)
    proxy_type = primary.proxy_type
    if proxy_type == "apple_mpp":
        confirmed = "Apple's relay" in primary.detail or any(
            e.reason == "privacy_proxy" and e.corroborating for e in support
        )
        reasons = (*reasons, "confirmed" if confirmed else "unconfirmed")
    machine = probability >= MACHINE_AT
    classification = primary.classification if machine else _C.GENUINE
    if classification is _C.SECURITY_SCANNER and hit.kind == "click":
        # A scanner following links to vet them; its evidence may have said so already.
        reasons = tuple(dict.fromkeys(("link_protection", *reasons)))
    return Verdict(
        classification,
        probability,
        proxy_type if machine else None,
        family if machine else None,
        reasons,
        details,
        machine=machine,
        counts_for_metrics=not machine,
    )
