"""A delivery failure, however it was learnt (the upstream's reply, a DSN), and what it means.

- ``message.hard_bounced``: permanent (a 5xx reply, RFC 5321 4.2.1; a DSN's ``failed`` action
  with a 5.x.x status, RFC 3464 2.3.3);
- ``message.soft_bounced``: temporary failures until the sender gave up (mailbeacon's retry
  schedule ran out; another MTA's DSN: ``failed`` with a 4.x.x status).

A hard bounce adds a suppression only when it is about the address (RFC 3463 enhanced status
X.1.X "addressing", other than the sender's 5.1.7 and 5.1.8, and 5.2.1 "mailbox disabled";
without an enhanced status, the replies 550, 551 and 553 that mean "no such mailbox"): a
refusal of one message's content or size (5.3.4, 5.6.x), or a policy block (5.7.x), says
nothing against the next message to the same person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Failure", "enhanced_status", "from_reply", "suppresses"]

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_ADDRESS_REPLIES = frozenset({"550", "551", "553"})
_SENDER_STATUSES = frozenset({"5.1.7", "5.1.8"})  # the sender's address, not the recipient's


@dataclass(frozen=True, slots=True)
class Failure:
    permanent: bool
    reply: str  # the receiving server's words (its SMTP reply, or the DSN's diagnostic)
    status: str = ""  # the RFC 3463 enhanced status, when known
    recipient: str | None = None  # the address a DSN names (None: the copy's)

    @property
    def event(self) -> str:
        return "message.hard_bounced" if self.permanent else "message.soft_bounced"


def enhanced_status(text: str) -> str:
    """The first RFC 3463 status code in ``text`` ("5.1.1"), or ""."""
    found = _ENHANCED.search(text)
    return ".".join(found.groups()) if found else ""


def from_reply(reply: str, *, permanent: bool) -> Failure:
    """The failure an SMTP reply (``"550 5.1.1 no such user"``) describes."""
    return Failure(permanent, reply, enhanced_status(reply))


def suppresses(failure: Failure) -> bool:
    """Whether the failure says the address cannot receive mail at all."""
    if not failure.permanent:
        return False
    status = failure.status
    if status:
        if status in _SENDER_STATUSES:
            return False
        return status.startswith("5.1.") or status == "5.2.1"
    return failure.reply.strip()[:3] in _ADDRESS_REPLIES
