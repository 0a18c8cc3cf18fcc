"""The markup mailbeacon adds to an HTML part, and where it goes.

The open pixel: a 1x1 transparent GIF, invisible but loadable. Never ``display:none``: Gmail
does not fetch hidden images. By default it goes right after ``<body ...>`` so a message that
Gmail clips at 102 KB still loads it (a pixel at the bottom is cut off with the rest).

The honeypot: a link no person can see, focus or hear (empty, ``aria-hidden``, ``tabindex=-1``,
hidden by CSS that webmail honours and by Outlook's ``mso-hide:all``). Security scanners follow
every ``href``; people never follow this one, so any hit on it is a machine.
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "GMAIL_CLIP_BYTES",
    "PixelPosition",
    "fallback_offset",
    "honeypot_markup",
    "pixel_markup",
]

# Gmail clips a message whose HTML exceeds about 102 KB ("[Message clipped]").
GMAIL_CLIP_BYTES = 102 * 1024

PIXEL_STYLE = "display:block;width:1px;height:1px;border:0;margin:0;padding:0"
HONEYPOT_STYLE = (
    "display:none!important;mso-hide:all;visibility:hidden;font-size:0;line-height:0;"
    "max-height:0;max-width:0;overflow:hidden;opacity:0"
)


class PixelPosition(enum.Enum):
    TOP = "top"  # right after <body ...>: survives Gmail clipping
    BOTTOM = "bottom"  # right before </body>


def pixel_markup(url: str) -> str:
    return f'<img src="{url}" width="1" height="1" alt="" style="{PIXEL_STYLE}" />'


def honeypot_markup(url: str) -> str:
    return f'<a href="{url}" aria-hidden="true" tabindex="-1" style="{HONEYPOT_STYLE}"></a>'


# The head of a document without <body>: doctype, <html ...>, and <head>...</head>.
_PROLOGUE = re.compile(
    r"\A(?:\s*<!doctype[^>]*>)?(?:\s*<html(?=[\t\n\f\r />])[^>]*>)?"
    r"(?:\s*<head(?=[\t\n\f\r />])(?:.*?</head\s*>|[^>]*>))?",
    re.IGNORECASE | re.DOTALL,
)
_HTML_END = re.compile(r"</html\s*>", re.IGNORECASE)


def fallback_offset(html: str, position: PixelPosition) -> int:
    """Where beacons go in a document without ``<body>``: after its prologue (never before a
    doctype, which would switch browsers to quirks mode), or before ``</html>`` / at the end."""
    if position is PixelPosition.TOP:
        m = _PROLOGUE.match(html)
        return m.end() if m else 0
    last = None
    for last in _HTML_END.finditer(html):  # noqa: B007 - the last one is wanted
        pass
    return last.start() if last else len(html)
