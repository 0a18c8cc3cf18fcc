"""A verdict in words: what each classification and reason code means, for a person asking
"why was this click not counted?". Lookup tables, not if-chains (STYLE.md): the words live
next to the codes they explain."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CLASSIFICATIONS", "KIND_LABELS", "REASONS", "audience", "summary"]

# Who made the hit, as the dashboard names and colours it on every page.
CLASSIFICATIONS = {
    "genuine": "a person",
    "privacy_proxy": "a privacy proxy",
    "security_scanner": "a security scanner",
    "link_preview": "a link preview",
    "generic_bot": "another bot",
}

REASONS = {
    "known_bot": "its user agent names a known bot or preview service",
    "unknown_client": "its user agent is an app's or a device's that no list knows: weak "
    "evidence either way, decided by the hit's other signals",
    "link_protection": "it came from a mail security product that opens links to check them",
    "security_network": "its address belongs to a mail security provider's network",
    "privacy_proxy": "it came through a privacy proxy that fetches images for the reader",
    "image_proxy": "it came through a mail provider's image proxy",
    "request_shape": "the request itself does not look like a person's browser",
    "timing": "it came too soon after delivery, or together with other hits, for a person",
    "link_pattern": "it followed links no person sees or clicks that way",
}

KIND_LABELS = {1: "open", 2: "click", 3: "honeypot"}


def audience(classification: str | None) -> str:
    """The colour group: people, privacy proxies, scanners, previews, other bots."""
    return classification if classification in CLASSIFICATIONS else "pending"


def summary(
    classification: str | None, counts_for_metrics: bool | None, reason_codes: Sequence[str]
) -> str:
    """One sentence: who it was, whether it counted, and why."""
    if classification is None:
        return "Not judged yet: hits settle for a few seconds before they are classified."
    who = CLASSIFICATIONS.get(classification, classification)
    if counts_for_metrics:
        return f"Counted: made by {who}."
    why = "; ".join(REASONS.get(code, code.replace("_", " ")) for code in reason_codes)
    return f"Not counted: made by {who}" + (f", because {why}." if why else ".")
