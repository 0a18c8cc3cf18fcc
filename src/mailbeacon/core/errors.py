"""The exceptions of mailbeacon's pure core.

Each boundary has its own subtree, so a caller catches exactly what its input can cause::

    MailbeaconError
    ├── KeyringError          a signing keyring that cannot be used (names the setting)
    ├── ForgedToken           a tracking token that fails verification
    ├── InstrumentError       an email that cannot be instrumented
    │   └── MimePartError     one MIME part cannot be decoded or re-encoded (names the part)
    ├── InvalidOverride       a per-email tracking override with an unusable value
    ├── InvalidHostname       a host name that cannot be a (custom tracking) domain
    └── NotMigrated           the database schema is not this version's

An *expired* token is not an error: it is authentic, and the caller still redirects.
"""

from __future__ import annotations

__all__ = [
    "ForgedToken",
    "InstrumentError",
    "InvalidHostname",
    "InvalidOverride",
    "KeyringError",
    "MailbeaconError",
    "MimePartError",
    "NotMigrated",
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
