"""An RFC 5322 message from a :class:`~.submission.Submission`.

The message is what every recipient's copy starts from: headers show the original From, To,
Cc and Reply-To (never Bcc); bodies are UTF-8, quoted-printable, with CRLF line ends as SMTP
wants them. Structure: text and HTML as multipart/alternative, inline images (a
``content_id``) with the HTML as multipart/related, attachments as multipart/mixed.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from .submission import Submission

__all__ = ["compose"]


def compose(submission: Submission, *, message_id: str, date: datetime) -> bytes:
    """The message as bytes. ``message_id`` is "<id@domain>"; a Message-ID among the
    submission's headers replaces it only when the sender asked to preserve it."""
    message = EmailMessage(policy=SMTP)
    message["From"] = submission.sender.formatted()
    if submission.to:
        message["To"] = ", ".join(a.formatted() for a in submission.to)
    if submission.cc:
        message["Cc"] = ", ".join(a.formatted() for a in submission.cc)
    if submission.reply_to:
        message["Reply-To"] = ", ".join(submission.reply_to)
    message["Subject"] = submission.subject
    message["Date"] = format_datetime(date)
    own_id = next((v for n, v in submission.headers if n.lower() == "message-id"), None)
    message["Message-ID"] = own_id if own_id and submission.preserve_message_id else message_id
    for name, value in submission.headers:
        if name.lower() != "message-id":
            message[name] = value
    _set_bodies(message, submission)
    return message.as_bytes()


def _set_bodies(message: EmailMessage, submission: Submission) -> None:
    inline = [a for a in submission.attachments if a.content_id]
    attached = [a for a in submission.attachments if not a.content_id]
    if submission.text is not None:
        message.set_content(submission.text, subtype="plain", cte="quoted-printable")
        if submission.html is not None:
            message.add_alternative(submission.html, subtype="html", cte="quoted-printable")
    elif submission.html is not None:
        message.set_content(submission.html, subtype="html", cte="quoted-printable")
    if inline:
        html_part = message.get_body(preferencelist=("html",))
        target = html_part if isinstance(html_part, EmailMessage) else message
        for attachment in inline:
            maintype, subtype = attachment.content_type.split("/", 1)
            content_id = attachment.content_id or ""
            target.add_related(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                cid=content_id if content_id.startswith("<") else f"<{content_id}>",
                filename=attachment.filename,
                disposition="inline",
            )
    for attachment in attached:
        maintype, subtype = attachment.content_type.split("/", 1)
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
