"""Instrument an HTML document: rewrite its links, add the open pixel and the honeypot.

Invariant: only the value of a rewritten ``href`` changes and the beacons are inserted; every
other character of the input is kept (doctype, whitespace, entities, quotes, comments, VML). The
result lists each change (:class:`Edit`), so the invariant can be checked from the outside.

Work is split in two because every recipient gets a copy of their own: :func:`plan_html` finds
the links, their destinations and anchor texts once per message; :meth:`HtmlPlan.render` mints
one recipient's tokens and splices them in. :func:`instrument_html` does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .beacons import GMAIL_CLIP_BYTES, PixelPosition, fallback_offset, honeypot_markup, pixel_markup
from .htmlscan import END, START, AttrSpan, scan
from .htmltext import decode_attribute, visible_text
from .linkrules import OPT_OUT_NAME_LENGTHS, LinkRules, SkipReason, opts_out
from .tokens import MAX_LINK_INDEX

__all__ = [
    "Edit",
    "HtmlPlan",
    "InstrumentedHtml",
    "SkippedLink",
    "TrackedLink",
    "Tracker",
    "instrument_html",
    "plan_html",
]


class Tracker(Protocol):
    """Mints the tracking URLs of one recipient's copy (see :class:`~.tracker.CopyTracker`)."""

    @property
    def host(self) -> str: ...

    def click_url(self, link_index: int) -> str: ...

    def open_url(self) -> str: ...

    def honeypot_url(self) -> str: ...


class TrackedLink(NamedTuple):
    link_index: int  # 0-based order of appearance among tracked links
    url: str  # the destination: the attribute value with references decoded
    anchor_text: str  # visible text of the link (for <area>, its alt text)
    element: str  # "a", "area" or the VML element, e.g. "v:roundrect"
    tracking_url: str
    value_start: int  # where the href value was in the input (quotes excluded)
    value_end: int


class SkippedLink(NamedTuple):
    url: str
    reason: SkipReason
    element: str
    value_start: int  # where the href value is in the input


class Edit(NamedTuple):
    """``input[start:end]`` became ``text``: an href value, or an insertion (start == end) of
    the pixel or the honeypot."""

    start: int
    end: int
    text: str
    what: str  # "link", "pixel" or "honeypot"


# A link to rewrite: where its href value is, and what it stands for. A plain tuple, not a
# NamedTuple: one is made per link of every message, and NamedTuple's constructor is slower.
_Site = tuple[int, int, str, str, str]  # value_start, value_end, url, anchor_text, element


@dataclass(frozen=True, slots=True)
class InstrumentedHtml:
    html: str
    links: tuple[TrackedLink, ...]
    skipped: tuple[SkippedLink, ...]
    insertions: tuple[Edit, ...]  # the pixel and the honeypot
    size: int  # UTF-8 bytes of the instrumented HTML

    @property
    def edits(self) -> tuple[Edit, ...]:
        """Every change, in input order: rewritten href values and inserted beacons."""
        changes = [Edit(k.value_start, k.value_end, k.tracking_url, "link") for k in self.links]
        changes.extend(self.insertions)
        changes.sort(key=_start)  # stable: the pixel stays before the honeypot
        return tuple(changes)

    @property
    def clipped_by_gmail(self) -> bool:
        """Whether Gmail will clip this HTML ("[Message clipped]"), hiding what follows."""
        return self.size > GMAIL_CLIP_BYTES


@dataclass(frozen=True, slots=True)
class HtmlPlan:
    """What instrumenting ``html`` changes, before any recipient's tokens exist."""

    html: str
    sites: tuple[_Site, ...]
    skipped: tuple[SkippedLink, ...]
    body_open: int  # just past the first <body ...>, or -1
    body_close: int  # at the last </body>, or -1

    def render(
        self,
        tracker: Tracker,
        *,
        opens: bool = True,
        clicks: bool = True,
        pixel_position: PixelPosition = PixelPosition.TOP,
        honeypot: bool = False,
        first_link_index: int = 0,
    ) -> InstrumentedHtml:
        """One recipient's copy. ``first_link_index`` continues the numbering when a message
        has several HTML parts; the honeypot is added only when clicks are tracked."""
        html = self.html
        insertions: list[Edit] = []
        if opens or (honeypot and clicks):
            at = self._beacon_offset(pixel_position)
            if opens:
                insertions.append(Edit(at, at, pixel_markup(tracker.open_url()), "pixel"))
            if honeypot and clicks:
                insertions.append(Edit(at, at, honeypot_markup(tracker.honeypot_url()), "honeypot"))
        beacon_at = insertions[0].start if insertions else len(html) + 1
        pieces: list[str] = []
        links: list[TrackedLink] = []
        skipped = list(self.skipped) if clicks else []
        last = 0
        index = first_link_index
        click_url = tracker.click_url
        for start, end, target, anchor, element in self.sites if clicks else ():
            if index > MAX_LINK_INDEX:
                skipped.append(SkippedLink(target, SkipReason.TOO_MANY, element, start))
                continue
            if beacon_at <= start:
                pieces.append(html[last:beacon_at])
                pieces.extend(edit.text for edit in insertions)
                last, beacon_at = beacon_at, len(html) + 1
            url = click_url(index)
            pieces.append(html[last:start])
            pieces.append(url)
            last = end
            links.append(TrackedLink(index, target, anchor, element, url, start, end))
            index += 1
        if beacon_at <= len(html):
            pieces.append(html[last:beacon_at])
            pieces.extend(edit.text for edit in insertions)
            last = beacon_at
        pieces.append(html[last:])
        out = "".join(pieces)
        return InstrumentedHtml(
            html=out,
            links=tuple(links),
            skipped=tuple(skipped),
            insertions=tuple(insertions),
            size=len(out.encode("utf-8", "surrogatepass")),
        )

    def _beacon_offset(self, position: PixelPosition) -> int:
        if position is PixelPosition.TOP and self.body_open >= 0:
            return self.body_open
        if position is PixelPosition.BOTTOM and self.body_close >= 0:
            return self.body_close
        return fallback_offset(self.html, position)


def _start(edit: Edit) -> int:
    return edit.start


def plan_html(html: str, rules: LinkRules | None = None) -> HtmlPlan:
    """Find the links of ``html`` to track, with their destinations and anchor texts."""
    rules = rules or LinkRules()
    sites: list[_Site] = []
    skipped: list[SkippedLink] = []
    body_open = body_close = -1
    judge = rules.judge
    for kind, start, end, name_start, name_end, attrs, href_index, ends in scan(html):
        if kind == START:
            if href_index < 0:
                if body_open < 0 and html[name_start:name_end].lower() == "body":
                    body_open = end
                continue
            name = "a" if name_end - name_start == 1 else html[name_start:name_end].lower()
            href = attrs[href_index]
            url, reason = judge(html[href[2] : href[3]])
            # Opt-out attributes all end in "track": a substring test spares most links the walk.
            if reason is None and "track" in html[name_end:end].lower() and _opts_out(html, attrs):
                reason = SkipReason.OPTED_OUT
            if reason is not None:
                skipped.append(SkippedLink(url, reason, name, href[2]))
                continue
            if name == "area":
                alt = _value(html, attrs, "alt")
                anchor = " ".join(decode_attribute(alt).split())[:200] if alt else ""
            else:
                anchor = visible_text(html[end:ends])
            sites.append((href[2], href[3], url, anchor, name))
        elif kind == END:
            body_close = start
    return HtmlPlan(html, tuple(sites), tuple(skipped), body_open, body_close)


def instrument_html(
    html: str,
    tracker: Tracker,
    *,
    opens: bool = True,
    clicks: bool = True,
    rules: LinkRules | None = None,
    pixel_position: PixelPosition = PixelPosition.TOP,
    honeypot: bool = False,
    first_link_index: int = 0,
) -> InstrumentedHtml:
    """Rewrite the links of ``html`` and insert the beacons for one recipient, changing
    nothing else. Links to the tracker's own host are never rewritten."""
    rules = (rules or LinkRules()).including(tracking_hosts=[tracker.host])
    plan = plan_html(html, rules) if clicks else HtmlPlan(html, (), (), *_body(html))
    return plan.render(
        tracker,
        opens=opens,
        clicks=clicks,
        pixel_position=pixel_position,
        honeypot=honeypot,
        first_link_index=first_link_index,
    )


def _body(html: str) -> tuple[int, int]:
    body_open = body_close = -1
    for kind, start, end, name_start, name_end, *_ in scan(html):
        if kind == START and body_open < 0 and html[name_start:name_end].lower() == "body":
            body_open = end
        elif kind == END:
            body_close = start
    return body_open, body_close


def _opts_out(html: str, attrs: tuple[AttrSpan, ...]) -> bool:
    """Whether one of the link's attributes asks not to track it."""
    for attr in attrs:
        if attr[1] - attr[0] in OPT_OUT_NAME_LENGTHS:
            name = html[attr[0] : attr[1]].lower()
            if opts_out(name, html[attr[2] : attr[3]]):
                return True
    return False


def _find(html: str, attrs: tuple[AttrSpan, ...], name: str) -> AttrSpan | None:
    """The first attribute called ``name`` (lower-case), as browsers resolve duplicates."""
    size = len(name)
    for attr in attrs:
        if attr[1] - attr[0] == size and html[attr[0] : attr[1]].lower() == name:
            return attr
    return None


def _value(html: str, attrs: tuple[AttrSpan, ...], name: str) -> str | None:
    attr = _find(html, attrs, name)
    return None if attr is None else html[attr[2] : attr[3]]
