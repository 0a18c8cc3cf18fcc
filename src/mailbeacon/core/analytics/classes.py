"""Lettermint's engagement classes, in mailbeacon's verdict vocabulary.

A verdict's ``classification`` (core/verdicts/classify.py) maps onto Lettermint's classes by
a lookup table, as foreign vocabularies are normalised everywhere else:

========== ================================= ==============================================
class      classifications                   meaning
========== ================================= ==============================================
human      genuine                           a person
privacy    privacy_proxy                     an image proxy or Apple MPP fetched the pixel
                                             or link: a mailbox's image proxy for its
                                             reader (counts), Apple MPP whether or not
                                             anyone reads (does not; README)
bot        link_preview, generic_bot         previews (Slack, Teams, ...), crawlers, tools
scanner    security_scanner                  mail-security link and attachment checkers
machine    bot + scanner                     what no person caused
observed   human + privacy                   everything that may be a person: the same sum
                                             as ``/v1/stats``' ``observed_opened``
========== ================================= ==============================================

``machine`` here is the union of the bot and scanner classes, as Lettermint defines it; it
differs from the verdict's ``machine`` flag (and ``/v1/stats``' ``machine_opened``), which
also holds Apple MPP prefetches: in analytics those are ``privacy``.

Uniques: per recipient's copy, per class and per kind (open or click), the copy's first
event of that class is the unique one. The promoter records which classes an event is the
first of as a bitmask (``events.firsts``), computed from the copy's earlier events as
``first`` is, so a unique count is a sum over events, never a DISTINCT over recipients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["BITS", "CLASSES", "CLASSES_OF", "firsts"]

CLASSES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "human": frozenset({"genuine"}),
        "privacy": frozenset({"privacy_proxy"}),
        "bot": frozenset({"link_preview", "generic_bot"}),
        "scanner": frozenset({"security_scanner"}),
        "machine": frozenset({"link_preview", "generic_bot", "security_scanner"}),
        "observed": frozenset({"genuine", "privacy_proxy"}),
    }
)
BITS: Mapping[str, int] = MappingProxyType({name: 1 << i for i, name in enumerate(CLASSES)})
# classification -> the classes it belongs to
CLASSES_OF: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        classification: tuple(
            name for name, members in CLASSES.items() if classification in members
        )
        for classification in frozenset().union(*CLASSES.values())
    }
)


def firsts(classification: str, seen: Iterable[str]) -> tuple[int, tuple[str, ...]]:
    """The bitmask of the classes a new event of ``classification`` is the first of, given
    the classifications the copy already has for this kind; and those classes."""
    before = set(seen)
    mask = 0
    made: list[str] = []
    for name in CLASSES_OF.get(classification, ()):
        if not before & CLASSES[name]:
            mask |= BITS[name]
            made.append(name)
    return mask, tuple(made)
