"""Handing a recipient's copy to the upstream: an SMTP server, or local capture.

An outcome says whether a failure is temporary (retry later: 4xx replies, connection errors,
timeouts) or permanent (5xx replies), as an MTA would judge it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import aiosmtplib

from ..config import Upstream

__all__ = ["Capture", "Outcome", "Result", "Sender", "SmtpSender", "make_sender"]


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # the upstream accepted it
    CAPTURED = "captured"  # kept locally (capture mode)
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""


class Sender(Protocol):
    name: str

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result: ...


class Capture:
    """Keeps mail in the database only: the copy is readable through the API."""

    name = "capture"

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        return Result(Outcome.CAPTURED)


class SmtpSender:
    def __init__(self, upstream: Upstream, *, timeout: float = 60.0) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.name = upstream.describe()

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        up = self.upstream
        try:
            errors, reply = await aiosmtplib.send(
                raw,
                sender=sender,
                recipients=[recipient],
                hostname=up.host,
                port=up.port,
                username=up.username,
                password=up.password,
                use_tls=up.tls == "tls",
                start_tls=up.tls == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused else 550
            return _reply(code, refused.message if refused else str(exc))
        except aiosmtplib.SMTPResponseException as exc:
            return _reply(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Result(Outcome.TEMPORARY, f"{type(exc).__name__}: {exc}")
        if errors:
            code, message = next(iter(errors.values()))
            return _reply(code, message)
        return Result(Outcome.DELIVERED, reply)


def _reply(code: int, message: str) -> Result:
    outcome = Outcome.PERMANENT if 500 <= code < 600 else Outcome.TEMPORARY
    return Result(outcome, f"{code} {message}".strip())


def make_sender(upstream: Upstream) -> Sender:
    return Capture() if upstream.capture else SmtpSender(upstream)
