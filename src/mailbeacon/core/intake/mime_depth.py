"""How deeply a message's multiparts nest, read without parsing it.

The email package parses nested multiparts recursively: a few thousand levels (a message of a
few hundred kilobytes) exhaust Python's stack, which would surface as a temporary failure and
make the client retry forever. This scan is iterative and runs first, so such a message gets
a permanent refusal instead (Postfix's ``mime_nesting_limit`` does the same, default 100).

Only what nesting needs is read: each part's ``Content-Type`` (unfolded), its ``boundary``
parameter, and the delimiter lines that open and close parts. A boundary that never closes
simply stays open, as the email package treats it.
"""

from __future__ import annotations

import re

__all__ = ["MAX_DEPTH", "nesting_depth"]

MAX_DEPTH = 100
_CONTENT_TYPE = re.compile(rb"content-type[ \t]*:(.*)", re.IGNORECASE | re.DOTALL)
_MULTIPART = re.compile(rb"[ \t]*multipart/", re.IGNORECASE)
_BOUNDARY = re.compile(rb';\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)


def nesting_depth(raw: bytes, *, stop_at: int = MAX_DEPTH) -> int:
    """The deepest multipart nesting in ``raw`` (0: not multipart), counting no further than
    ``stop_at + 1`` (enough to refuse)."""
    open_boundaries: list[bytes] = []
    deepest = 0
    in_headers = True
    header: list[bytes] = []
    for line in raw.splitlines():
        if in_headers:
            if line[:1] in (b" ", b"\t") and header:
                header[-1] += line  # a folded continuation
                continue
            if line.strip():
                header.append(line)
                continue
            boundary = _multipart_boundary(header)
            header = []
            in_headers = False
            if boundary is not None:
                open_boundaries.append(boundary)
                deepest = max(deepest, len(open_boundaries))
                if deepest > stop_at:
                    return deepest
            continue
        if line[:2] != b"--" or not open_boundaries:
            continue
        stripped = line.rstrip()
        for level in range(len(open_boundaries) - 1, -1, -1):
            boundary = open_boundaries[level]
            if stripped == b"--" + boundary + b"--":
                del open_boundaries[level:]  # this multipart, and any left open inside it
                break
            if stripped == b"--" + boundary:
                del open_boundaries[level + 1 :]
                in_headers = True  # a new part of this multipart starts
                break
    return deepest


def _multipart_boundary(header: list[bytes]) -> bytes | None:
    for field in header:
        found = _CONTENT_TYPE.match(field)
        if found is None:
            continue
        value = found.group(1)
        if not _MULTIPART.match(value):
            return None
        boundary = _BOUNDARY.search(value)
        if boundary is None:
            return None
        return boundary.group(1) or boundary.group(2)
    return None
