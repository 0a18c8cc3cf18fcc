"""Reading a bounce: RFC 3464 delivery status notifications, and the common other forms.

Most mail systems (Postfix, Exim, Exchange, Gmail, Outlook.com) send a ``multipart/report;
report-type=delivery-status`` whose ``message/delivery-status`` part has a block per
recipient with ``Action``, ``Status`` and ``Diagnostic-Code`` (RFC 3464 2.3): that is read
first. Others send plain text, with the remote server's reply somewhere in it: qmail's
"Sorry, no mailbox here by that name. (#5.1.1)", older Exchange's "Remote Server returned
'550 5.1.1 RESOLVER.ADR.RecipNotFound'", Gmail's "The response from the remote server was:
550 5.1.1 ...". Those are read only when the message looks like a bounce (a daemon's sender
or a bounce's subject), and only in its own words, never in the returned original message:
an auto-reply, or the original's text quoting a status code, must not suppress anybody.

Only failures are reported: a ``delayed`` action or a delay warning ("will retry") is not
the end of anything. The VERP return path (verp.py) names the copy, so a report that names
no recipient is still enough.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from .failures import Failure, enhanced_status

__all__ = ["read_bounce"]

# Senders and subjects of bounces (lower case); a subject that says "delay" is a warning.
_DAEMONS = re.compile(r"mailer-daemon|postmaster|mail delivery (?:subsystem|system)")
_SUBJECTS = re.compile(
    r"undeliver|undelivered mail|delivery status notification|delivery failure|"
    r"mail delivery failed|failure notice|returned mail|delivery has failed|could not be deliver"
)
_WARNING = re.compile(r"delay|warning|will retry|still trying")
# The remote server's reply in a text bounce: "550 5.1.1 words", "550-5.1.1 words",
# "550 words", or qmail's "(#5.1.1)".
_REPLY_LINE = re.compile(r"(?<!\d)([45]\d\d)[ -]((?:[45]\.\d{1,3}\.\d{1,3}\s+)?\S.*)")
_QMAIL = re.compile(r"\(#([45]\.\d{1,3}\.\d{1,3})\)")
_TYPED = re.compile(r"^\s*[A-Za-z0-9-]+\s*;\s*")  # "smtp; 550 ..." / "rfc822; ann@..."
_MAX_TEXT = 64 * 1024  # characters of a text bounce read


def read_bounce(raw: bytes) -> list[Failure]:
    """The delivery failures a bounce reports; [] when it reports none (a delay warning, an
    auto-reply, anything else)."""
    message = message_from_bytes(raw, policy=compat32)
    reports = [
        part for part in message.walk() if part.get_content_type() == "message/delivery-status"
    ]
    if reports:
        return [failure for report in reports for failure in _from_report(report)]
    return _from_text(message)


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _from_report(report: Message) -> list[Failure]:
    blocks = report.get_payload()
    if not isinstance(blocks, list):
        return []
    found = []
    for block in blocks[1:]:  # the first block is about the message (RFC 3464 2.2)
        if not isinstance(block, Message) or _field(block, "Action").lower() != "failed":
            continue
        diagnostic = _TYPED.sub("", _field(block, "Diagnostic-Code"))
        status = enhanced_status(_field(block, "Status")) or enhanced_status(diagnostic)
        recipient = _TYPED.sub(
            "", _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
        )
        permanent = (status or diagnostic.strip() or "5")[0] == "5"
        found.append(Failure(permanent, diagnostic or status, status, recipient or None))
    return found


def _looks_like_bounce(message: Message) -> bool:
    sender = _field(message, "From").lower()
    subject = _field(message, "Subject").lower()
    if _WARNING.search(subject):
        return False
    return bool(_DAEMONS.search(sender) or _SUBJECTS.search(subject))


def _own_text(message: Message) -> str:
    """The bounce's own text parts, not those of the message it returns."""
    texts: list[str] = []

    def visit(part: Message) -> None:
        if part.get_content_type() == "message/rfc822" or part.get_content_type() in (
            "text/rfc822-headers",
        ):
            return
        if part.is_multipart():
            for child in part.get_payload():
                if isinstance(child, Message):
                    visit(child)
            return
        if part.get_content_maintype() == "text" and part.get_content_disposition() != "attachment":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    text = payload.decode(charset, "replace")
                except LookupError:
                    text = payload.decode("utf-8", "replace")
                if part.get_content_subtype() == "html":
                    text = re.sub(r"<[^>]*>", " ", text)
                texts.append(text)

    visit(message)
    return "\n".join(texts)[:_MAX_TEXT]


def _from_text(message: Message) -> list[Failure]:
    if not _looks_like_bounce(message):
        return []
    text = _own_text(message)
    if _WARNING.search(text[:2000].lower()) and not _REPLY_LINE.search(text):
        return []
    for line in text.splitlines():
        match = _REPLY_LINE.search(line)
        if match:
            reply = f"{match.group(1)} {match.group(2)}".strip().strip("'\"")
            status = enhanced_status(reply)
            return [Failure(match.group(1)[0] == "5", reply, status)]
    qmail = _QMAIL.search(text)
    if qmail:
        status = qmail.group(1)
        line = next((s.strip() for s in text.splitlines() if qmail.group(0) in s), status)
        return [Failure(status[0] == "5", line, status)]
    return []
