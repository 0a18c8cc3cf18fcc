"""One email to send, normalised from whichever API it arrived through.

Each dialect reads its own request body into a :class:`Submission`
(core/lettermint/submission.py, core/lettr/submission.py) with the field readers of
core/intake/fields.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parseaddr

import idna

from ..text import header_problem
from .policy import TrackingOverrides

__all__ = [
    "MAX_RECIPIENTS",
    "MAX_SUBJECT",
    "Address",
    "Attachment",
    "Submission",
    "address_problem",
    "parse_address",
    "without_repeats",
]

MAX_RECIPIENTS = 500  # to + cc + bcc of one message (each gets an instrumented copy)
MAX_SUBJECT = 998
MAX_LOCAL_PART = 64  # RFC 5321, 4.5.3.1.1
MAX_ADDRESS = 254  # a path of 256 octets, less its angle brackets
# No controls (C0, DEL) anywhere: they cannot travel in a header or an SMTP command.
_EMAIL = re.compile(
    r"[^@\s<>()\[\],;:\"\x00-\x1f\x7f]+@[^@\s<>()\[\],;:\"\x00-\x1f\x7f]+"
    r"\.[^@\s<>()\[\],;:\".\x00-\x1f\x7f]+"
)


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
    """``"Name <addr>"`` or a bare address; None if it is not a usable address (see
    :func:`address_problem` for why)."""
    found = _parse(value)
    return found if isinstance(found, Address) else None


def address_problem(value: str) -> str | None:
    """Why ``value`` is not an address mailbeacon can send to, or None."""
    found = _parse(value)
    return None if isinstance(found, Address) else found


def _parse(value: str) -> Address | str:
    if not isinstance(value, str) or header_problem(value) is not None:
        return "is not a valid email address"
    name, email = parseaddr(value)
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return "is not a valid email address"
    if not local.isascii():
        # RFC 6531 would carry it with SMTPUTF8; the upstream and most receivers cannot
        return "has a non-ASCII local part (it needs SMTPUTF8, which this server does not use)"
    try:
        # An internationalised domain travels in its ASCII form (IDNA 2008, UTS #46 mapping),
        # so headers and the envelope stay ASCII.
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return "has a domain that is not a valid host name"
    email = f"{local}@{domain}"
    if not _EMAIL.fullmatch(email):
        return "is not a valid email address"
    if len(local) > MAX_LOCAL_PART or len(email) > MAX_ADDRESS:
        return (
            f"is too long (at most {MAX_LOCAL_PART} characters before the @ and "
            f"{MAX_ADDRESS} in all, RFC 5321)"
        )
    return Address(email=email, name=name or None)


def without_repeats(
    *groups: tuple[Address, ...],
) -> tuple[tuple[Address, ...], ...]:
    """``to``, ``cc`` and ``bcc`` with every address kept only where it first appears (letter
    case aside): one recipient, one copy, one set of counts."""
    seen: set[str] = set()
    kept: list[tuple[Address, ...]] = []
    for group in groups:
        fresh = []
        for address in group:
            key = address.email.lower()
            if key not in seen:
                seen.add(key)
                fresh.append(address)
        kept.append(tuple(fresh))
    return tuple(kept)
