"""What text mailbeacon can store, and what text can go into a mail header.

Two rules every entry point shares (both APIs, the Team API, the relay), so the same value
gets the same answer on SQLite and on PostgreSQL:

- **Storable**: no NUL (PostgreSQL's ``text`` refuses it, SQLite would keep it, so the two
  databases would disagree) and no lone surrogate (``"\\ud800"`` is valid JSON but no UTF-8
  encoder can write it). A surrogate *pair* in JSON is one ordinary character once decoded.
- **Header-safe**: additionally no line break of any kind. The email library splits header
  values with ``str.splitlines``, which breaks on CR and LF but also on VT, FF, the file,
  group and record separators, NEL (U+0085) and the Unicode line and paragraph separators:
  each would either be refused deep in composing (a 500) or start a new header (an
  injection).

:func:`unstorable` walks a decoded JSON document and names every offending string by its
path (``to.0``, ``metadata.order``), without recursion: a document's depth is the client's
choice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "LINE_BREAKS",
    "header_problem",
    "storable_problem",
    "unstorable",
]

# Exactly the characters str.splitlines() splits on.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_HEADER_UNSAFE = re.compile("[\x00\ud800-\udfff\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def storable_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return "must not contain unpaired UTF-16 surrogates (U+D800 to U+DFFF)"


def header_problem(value: str) -> str | None:
    """Why ``value`` cannot be (part of) a header's value, or None."""
    found = _HEADER_UNSAFE.search(value)
    if found is None:
        return None
    if found.group() in LINE_BREAKS:
        return "must not contain line breaks"
    return storable_problem(value)


def unstorable(document: Any) -> dict[str, list[str]]:
    """Every string in ``document`` (keys included) that cannot be stored, by its path."""
    problems: dict[str, list[str]] = {}
    for path, text in _strings(document):
        problem = storable_problem(text)
        if problem is not None:
            name = path or "body"
            problems.setdefault(name, []).append(f"The {name} field {problem}.")
    return problems


def _strings(document: Any) -> Iterator[tuple[str, str]]:
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and storable_problem(key) is not None:
                    yield inner, key
                stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item) for i, item in enumerate(value))
