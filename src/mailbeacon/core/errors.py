"""The exceptions of mailbeacon's pure core.

Each boundary has its own subtree, so a caller catches exactly what its input can cause::

    MailbeaconError
    ├── KeyringError          a signing keyring that cannot be used (names the setting)
    ├── ForgedToken           a tracking token that fails verification
    ├── InstrumentError       an email that cannot be instrumented
    │   └── MimePartError     one MIME part cannot be decoded or re-encoded (names the part)
    ├── InvalidOverride       a per-email tracking override with an unusable value
    ├── InvalidHostname       a host name that cannot be a (custom tracking) domain
    ├── NotMigrated           the database schema is not this version's
    ├── BatchInterrupted      a batch stopped at an item; says which items were accepted
    └── Refused               a use case (service/) turns a request down: status, code, fields
        └── NotFound          what it names does not exist (or is another team's)

An *expired* token is not an error: it is authentic, and the caller still redirects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BatchInterrupted",
    "ForgedToken",
    "InstrumentError",
    "InvalidHostname",
    "InvalidOverride",
    "KeyringError",
    "MailbeaconError",
    "MimePartError",
    "NotFound",
    "NotMigrated",
    "Refused",
]


class MailbeaconError(Exception):
    """Base of every error mailbeacon raises on purpose."""


class KeyringError(MailbeaconError):
    """The signing keyring is unusable; the message says which setting to fix."""


class ForgedToken(MailbeaconError):
    """A tracking token failed verification: wrong length, alphabet, encoding, key or MAC.

    The reason is for logs only; callers answer every forged token the same way.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstrumentError(MailbeaconError):
    """An email could not be instrumented."""


class MimePartError(InstrumentError):
    """One MIME part could not be decoded, or would not re-encode to the same bytes."""

    def __init__(self, part: str, content_type: str, problem: str) -> None:
        super().__init__(f"MIME part {part} ({content_type}): {problem}")
        self.part = part
        self.content_type = content_type
        self.problem = problem


class InvalidOverride(MailbeaconError):
    """A tracking override that is neither true nor false (names the field and the value)."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} must be true or false, got {value!r}")
        self.field = field
        self.value = value


class InvalidHostname(MailbeaconError):
    """A host name that cannot be used: the message is a sentence for the user, naming it."""


class NotMigrated(MailbeaconError):
    """The database schema is not the one this version needs (the message says what to run)."""


class Refused(MailbeaconError):
    """A request a use case turns down, whoever made it (the APIs, the command line).

    It carries what an API answer needs, so that the web layer maps it without knowing the
    rule: ``status`` (422 unless said), ``code`` (None: the API's code for the status) and
    ``errors`` (field -> messages, for a 422). The message is a sentence for the user.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 422,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.errors = dict(errors) if errors else None


class NotFound(Refused):
    """What a request names does not exist, or is another team's: the same answer, so that
    ids cannot be probed (DESIGN.md, invariant 6)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.", status=404)
        self.what = what


class BatchInterrupted(MailbeaconError):
    """A batch stopped at an item that could not be accepted (service/sending.py).

    ``status``, ``code`` and ``field`` are the refused item's (its ``AcceptError``'s, the
    ``__cause__``); ``accepted`` holds (index, answer) of the items accepted before it, which
    stay accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        field: str | None,
        accepted: list[tuple[int, Any]],
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.accepted = accepted
