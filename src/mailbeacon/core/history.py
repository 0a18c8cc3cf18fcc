"""What judging a copy's next hit needs of its past, kept small whatever the copy's volume.

The promoter used to re-read a copy's history from its events on every pass: which kinds and
classes of event it had (for ``first``, the unique counters and analytics' class firsts) and
its clicks of the last ten minutes (for bursts). A copy with 500,000 hits (a link posted
publicly, a bot looping) made every pass over it read thousands of rows. A
:class:`CopyHistory` holds the same answers in a bounded form, stored as one row per copy
(``copy_states``, store/promotion.py) and updated by every pass that judges the copy:

- ``opens`` / ``clicks``: bitmasks of what the copy's events of that type have been: any
  event, a countable one (``counts_for_metrics``), and each classification seen. Everything
  ``first``, ``unique_*``, ``effective_opened`` and ``events.firsts`` depend on.
- the window: per link, the time of its latest click, and the last few honeypot hits with
  their client (address, user agent), from the last :data:`WINDOW` (the classifier's widest
  pattern is two minutes). That is all core/verdicts/classify.py reads of earlier hits: a
  click's time and link (bursts, all links) and a honeypot hit's time and client (its
  company). Keeping the latest click per link is exact for bursts and all-links as long as
  earlier hits are judged before later ones, which the promoter's claim order (by time)
  gives for every hit shipped within the settle window.
- ``hits``: how many hits the copy has had judged; it also tells a stale read (SQLite's
  promoter judges outside the write lock and compares it before writing).
- the links it has clicked, by people (a countable click) and by machines: two bitmasks of
  link indexes, bounded by the message's links. What the per-link report's recipient counts
  need (store/link_report.py): a click adds a recipient to its link's count once.

Bounds: :data:`MAX_LINKS` links (a message with more keeps its most recently clicked ones,
so "every link clicked" is not seen past that), :data:`MAX_TRAPS` honeypot hits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from .analytics.classes import firsts
from .verdicts.classify import Hit

__all__ = [
    "CLASSIFICATIONS",
    "MAX_LINKS",
    "MAX_TRAPS",
    "WINDOW",
    "CopyHistory",
    "Flags",
]

WINDOW = 600_000_000  # microseconds of earlier hits kept: ten minutes, as before
MAX_LINKS = 256
MAX_TRAPS = 8
CLASSIFICATIONS = (
    "genuine",
    "privacy_proxy",
    "security_scanner",
    "link_preview",
    "generic_bot",
)
_ANY, _COUNTED = 1, 2
_encode = json.JSONEncoder(separators=(",", ":")).encode  # made once: dumps() makes one a call
_CLASS_BIT = {name: 4 << i for i, name in enumerate(CLASSIFICATIONS)}


class Flags(NamedTuple):
    """What one new event is the first of, for its copy."""

    first: bool | None  # events.first: None for an event that does not count
    first_any: bool  # the copy's first event of its type (unique_any_*)
    first_engaged: bool  # the copy's first countable event of either type (effective_opened)
    class_firsts: int  # events.firsts (core/analytics/classes.py BITS)


class CopyHistory:
    """One copy's summary; :meth:`record` and :meth:`remember` move it on as hits are judged."""

    __slots__ = ("clicks", "hits", "human_links", "link_at", "machine_links", "opens", "traps")

    def __init__(
        self,
        opens: int = 0,
        clicks: int = 0,
        hits: int = 0,
        link_at: dict[int, int] | None = None,
        traps: list[tuple[int, str | None, str]] | None = None,
        human_links: int = 0,
        machine_links: int = 0,
    ) -> None:
        self.opens = opens
        self.clicks = clicks
        self.hits = hits
        self.human_links = human_links  # bit i: link i had a countable click
        self.machine_links = machine_links  # bit i: link i had a machine click
        self.link_at: dict[int, int] = link_at if link_at is not None else {}  # link -> at_us
        self.traps: list[tuple[int, str | None, str]] = traps if traps is not None else []

    def record(self, opened: bool, classification: str, counted: bool) -> Flags:
        """The flags of a new event of this copy, which then counts as seen."""
        engaged = bool((self.opens | self.clicks) & _COUNTED)
        if opened:
            flags, self.opens = _judged(self.opens, classification, counted, engaged)
        else:
            flags, self.clicks = _judged(self.clicks, classification, counted, engaged)
        self.hits += 1
        return flags

    def clicked(self, link: int, counted: bool, machine: bool) -> tuple[bool, bool]:
        """A click on link ``link`` (a link of the message: 0 or more), which then counts as
        seen: whether it is the copy's first countable one on that link, and its first
        machine one."""
        bit = 1 << link
        human = counted and not self.human_links & bit
        robot = machine and not self.machine_links & bit
        if human:
            self.human_links |= bit
        if robot:
            self.machine_links |= bit
        return human, robot

    def linked_text(self) -> str:
        """The clicked links as stored: "HUMAN:MACHINE", bitmasks in hex ("": none)."""
        if not self.human_links and not self.machine_links:
            return ""
        return f"{self.human_links:x}:{self.machine_links:x}"

    def context(self) -> list[Hit]:
        """The earlier hits that classify's patterns may span, oldest first."""
        found = [
            (at_us, Hit("click", at=_at(at_us), link_index=link))
            for link, at_us in self.link_at.items()
        ]
        found += [
            (at_us, Hit("honeypot", user_agent=agent, at=_at(at_us), ip=ip))
            for at_us, ip, agent in self.traps
        ]
        found.sort(key=lambda entry: entry[0])
        return [hit for _, hit in found]

    def remember(self, judged: Iterable[tuple[int, str, int, str | None, str]]) -> None:
        """Take judged hits, as (at_us, kind, link index, ip, user agent), into the window,
        and forget what fell out of it."""
        newest = 0
        link_at, traps = self.link_at, self.traps
        for at_us, kind, link, ip, agent in judged:
            newest = max(newest, at_us)
            if kind == "click":
                if link_at.get(link, -1) < at_us:
                    link_at.pop(link, None)  # re-inserted: the dict stays oldest first
                    link_at[link] = at_us
            elif kind == "honeypot":
                traps.append((at_us, ip, agent))
        newest = max([newest, *link_at.values(), *(t[0] for t in traps)])
        since = newest - WINDOW
        stale = [link for link, at_us in link_at.items() if at_us < since]
        for link in stale:
            del link_at[link]
        while len(link_at) > MAX_LINKS:
            del link_at[min(link_at, key=link_at.__getitem__)]
        traps.sort(key=lambda trap: trap[0])
        self.traps = [trap for trap in traps if trap[0] >= since][-MAX_TRAPS:]

    def window_text(self) -> str:
        """The window as stored (JSON)."""
        if not self.link_at and not self.traps:
            return ""
        # written by hand: a pass writes one per copy, and json.dumps took ~10 us each
        links = ",".join([f"[{link},{at}]" for link, at in self.link_at.items()])
        traps = _encode(self.traps) if self.traps else "[]"
        return f'{{"links":[{links}],"traps":{traps}}}'

    @classmethod
    def stored(
        cls, opens: int, clicks: int, hits: int, window: str, linked: str = ""
    ) -> CopyHistory:
        """The summary as store/promotion.py reads it (a ``copy_states`` row)."""
        human, _, machine = linked.partition(":")
        human_links, machine_links = int(human or "0", 16), int(machine or "0", 16)
        if not window:
            return cls(opens, clicks, hits, None, None, human_links, machine_links)
        parsed = json.loads(window)
        links: Sequence[list[int]] = parsed.get("links", ())
        traps = [(int(at), ip, str(agent)) for at, ip, agent in parsed.get("traps", ())]
        link_at = {int(pair[0]): int(pair[1]) for pair in links}
        return cls(opens, clicks, hits, link_at, traps, human_links, machine_links)


@functools.cache
def _judged(mask: int, classification: str, counted: bool, engaged: bool) -> tuple[Flags, int]:
    """A new event's flags and its type's new mask (a few hundred combinations, remembered:
    the promoter asks once per hit)."""
    had = [name for name, bit in _CLASS_BIT.items() if mask & bit]
    flags = Flags(
        None if not counted else not mask & _COUNTED,
        not mask & _ANY,
        counted and not engaged,
        firsts(classification, had)[0],
    )
    return flags, mask | _ANY | _CLASS_BIT.get(classification, 0) | (_COUNTED if counted else 0)


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)
