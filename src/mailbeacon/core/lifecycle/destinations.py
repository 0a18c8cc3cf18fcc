"""A link's new destination, given after sending: checked as the redirect will send it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from ..errors import Refused
from ..instrumentation.linkrules import clean_url, host_of, uri_of
from ..text import storable_problem

__all__ = ["MAX_URL", "destination_at", "new_destination"]

MAX_URL = 8192  # longer than any browser's or server's practical limit
_WEB = re.compile(r"(?i)https?://")


def new_destination(value: str, field: str = "url") -> str:
    """``value`` as the URI a click will be redirected to: an absolute http(s) URL with a
    host, read as a browser would (surrounding spaces dropped) and made a valid URI (IDNA
    host, UTF-8 percent-encoding). A :class:`Refused` (422 naming ``field``) otherwise: a
    fixed link must never become an open redirect to something that is not a web page."""

    def refuse(why: str) -> Refused:
        return Refused(f"The {field} {why}.", errors={field: [f"The {field} {why}."]})

    if len(value) > MAX_URL:
        raise refuse(f"must not be longer than {MAX_URL} characters")
    problem = storable_problem(value)
    if problem is not None:
        raise refuse(problem)
    url = clean_url(value)
    if not _WEB.match(url) or host_of(url) is None:
        raise refuse("must be an absolute http or https URL, such as https://example.com/page")
    uri = uri_of(url)
    if uri is None:
        raise refuse("cannot be made a valid URI (check its host and port)")
    return uri


def destination_at(current: str, changes: Sequence[tuple[datetime, str]], at: datetime) -> str:
    """Where a link sent its clicks at ``at``: ``changes`` are its changes after sending as
    (when, the URL before it), oldest first, and ``current`` its destination now. A click
    keeps the destination it was redirected to, whenever its event is recorded."""
    for when, before in changes:
        if at < when:
            return before
    return current
