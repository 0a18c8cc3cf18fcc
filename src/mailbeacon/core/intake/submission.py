"""One email to send, normalised from whichever API it arrived through.

Each dialect reads its own request body into a :class:`Submission`
(core/lettermint/submission.py, core/lettr/submission.py) with the field readers of
core/intake/fields.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parseaddr

from .policy import TrackingOverrides

__all__ = [
    "MAX_RECIPIENTS",
    "MAX_SUBJECT",
    "Address",
    "Attachment",
    "Submission",
    "parse_address",
]

MAX_RECIPIENTS = 500  # to + cc + bcc of one message (each gets an instrumented copy)
MAX_SUBJECT = 998
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+")


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    name: str | None = None

    def formatted(self) -> str:
        from email.utils import formataddr

        return formataddr((self.name, self.email)) if self.name else self.email


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str
    content_id: str | None = None  # set: an inline part the HTML refers to as cid:...


@dataclass(frozen=True, slots=True)
class Submission:
    sender: Address
    to: tuple[Address, ...]
    subject: str
    html: str | None
    text: str | None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    tag: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    route: str | None = None
    overrides: TrackingOverrides = field(default_factory=TrackingOverrides)
    transactional: bool = True
    preserve_message_id: bool = False


def parse_address(value: str) -> Address | None:
    """``"Name <addr>"`` or a bare address; None if it is not a usable address."""
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        return None
    name, email = parseaddr(value)
    if not email or not _EMAIL.fullmatch(email):
        return None
    return Address(email=email, name=name or None)
