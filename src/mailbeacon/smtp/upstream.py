"""Handing a recipient's copy to the upstream: an SMTP server, or local capture.

Each copy is its own SMTP transaction: MAIL FROM the sender, RCPT TO that one recipient, DATA
the copy's bytes. An outcome is judged as an MTA would (RFC 5321 4.2.1; Postfix where the RFC
leaves the choice):

- ``DELIVERED``: the upstream answered 250 to the data.
- ``PERMANENT``: a 5xx reply to MAIL, RCPT or DATA, or a message the upstream cannot take at
  all (an address that cannot be written, SMTPUTF8 needed and not offered).
- ``TEMPORARY``: any 4xx reply; a refused, lost or timed-out connection; and every failure of
  the *session* before MAIL FROM: greeting, EHLO, STARTTLS, the certificate check, AUTH (535
  included). Those say nothing about the message: they are the upstream's or this instance's
  configuration, and failing every queued message because of a wrong password would lose mail
  the operator can still save by fixing the setting. Postfix defers the same way by default
  (``smtp_sasl_auth_soft_bounce``, ``smtp_skip_5xx_greeting``).

:class:`SmtpSender` keeps a pool of sessions to its upstream: a session carries up to
``max_messages`` transactions (RSET after a refusal), so a broadcast to a thousand recipients
costs a few TLS handshakes and logins, not a thousand. A pooled session the server dropped
while it was idle is noticed at MAIL FROM, before anything was handed over, and that
transaction is retried once on a fresh session; a session that fails mid-transaction is closed,
never reused.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
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

    async def aclose(self) -> None:
        """Let go of whatever the sender holds open (connections)."""
        ...


class Capture:
    """Keeps mail in the database only: the copy is readable through the API."""

    name = "capture"

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        return Result(Outcome.CAPTURED)

    async def aclose(self) -> None:
        return None


@dataclass(eq=False, slots=True)
class _Session:
    smtp: aiosmtplib.SMTP
    idle_since: float = 0.0
    messages: int = 0


class SmtpSender:
    """Relays copies to one SMTP upstream over a pool of at most ``max_connections`` sessions.

    ``tls_context`` replaces the default one (the system's CAs, hostname checked): pass one
    that trusts a private CA, e.g. ``ssl.create_default_context(cafile=...)``.
    ``max_messages`` transactions at most per session; a session idle for ``idle_seconds`` is
    closed rather than reused (servers drop idle clients after a few minutes). ``timeout``
    bounds each command, in seconds.
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        timeout: float = 60.0,
        tls_context: ssl.SSLContext | None = None,
        max_connections: int = 4,
        max_messages: int = 100,
        idle_seconds: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        if upstream.capture:
            raise ValueError("a capture upstream has no SMTP server: use Capture")
        if max_connections < 1 or max_messages < 1:
            raise ValueError("max_connections and max_messages must be at least 1")
        self.upstream = upstream
        self.timeout = timeout
        self.tls_context = tls_context
        self.max_messages = max_messages
        self.idle_seconds = idle_seconds
        self.local_hostname = local_hostname
        self.name = upstream.describe()
        self.sessions_opened = 0
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Session] = []

    async def send(self, sender: str, recipient: str, raw: bytes) -> Result:
        async with self._slots:
            pooled = self._take_idle()
            if pooled is not None:
                result = await self._transact(pooled, sender, recipient, raw, reused=True)
                if result is not None:
                    return result
            try:
                session = await self._open()
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                return Result(Outcome.TEMPORARY, _session_failure(exc))
            result = await self._transact(session, sender, recipient, raw, reused=False)
            assert result is not None  # only a reused session asks for another
            return result

    async def aclose(self) -> None:
        """QUIT every idle session; sessions in use close when their transaction ends."""
        idle, self._idle = self._idle, []
        for session in idle:
            await _quit(session.smtp)

    def _take_idle(self) -> _Session | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            session = self._idle.pop()
            if now - session.idle_since < self.idle_seconds and session.smtp.is_connected:
                return session
            session.smtp.close()
        return None

    async def _give_back(self, session: _Session) -> None:
        session.messages += 1
        if session.messages >= self.max_messages:
            await _quit(session.smtp)
        elif session.smtp.is_connected:
            session.idle_since = asyncio.get_running_loop().time()
            self._idle.append(session)

    async def _open(self) -> _Session:
        """A connected session, through TLS and AUTH as the upstream requires."""
        up = self.upstream
        smtp = aiosmtplib.SMTP(
            hostname=up.host,
            port=up.port,
            username=up.username,
            password=up.password,
            local_hostname=self.local_hostname,
            use_tls=up.tls == "tls",
            start_tls=up.tls == "starttls",  # required when asked for; never opportunistic
            tls_context=self.tls_context,
            timeout=self.timeout,
        )
        await smtp.connect()  # closes itself when it fails
        try:
            if smtp.is_ehlo_or_helo_needed:  # no STARTTLS or AUTH said it: extensions needed
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
        except BaseException:
            smtp.close()
            raise
        self.sessions_opened += 1
        return _Session(smtp)

    async def _transact(
        self, session: _Session, sender: str, recipient: str, raw: bytes, *, reused: bool
    ) -> Result | None:
        """One MAIL/RCPT/DATA on ``session``; None when a reused session turned out to be gone
        before the upstream took anything (the caller retries on a fresh one)."""
        smtp = session.smtp
        keep = False
        try:
            options, encoding = _mail_options(smtp, sender, recipient, raw)
            try:
                await smtp.mail(sender, options=options, encoding=encoding)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if reused:
                    return None
                raise
            except aiosmtplib.SMTPSenderRefused as exc:
                if reused and exc.code == 421:  # "closing": e.g. too many messages per session
                    return None
                raise
            await smtp.rcpt(recipient, encoding=encoding)
            reply = await smtp.data(raw)
            keep = True
            return Result(Outcome.DELIVERED, f"{reply.code} {reply.message}".strip())
        except aiosmtplib.SMTPResponseException as exc:
            keep = exc.code != 421 and await _reset(smtp)
            return _reply(exc.code, exc.message)
        except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
            keep = smtp.is_connected  # raised before the command was sent
            return Result(Outcome.PERMANENT, f"{type(exc).__name__}: {exc}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Result(Outcome.TEMPORARY, f"{type(exc).__name__}: {exc}")
        finally:
            if keep:
                await self._give_back(session)
            else:  # an error or a cancellation mid-transaction: the session's state is unknown
                smtp.close()


def _mail_options(
    smtp: aiosmtplib.SMTP, sender: str, recipient: str, raw: bytes
) -> tuple[list[str], str]:
    """MAIL FROM parameters (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8) and the
    encoding of the addresses."""
    options = []
    if smtp.supports_extension("size"):
        options.append(f"SIZE={len(raw)}")
    if not raw.isascii() and smtp.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if sender.isascii() and recipient.isascii():
        return options, "ascii"
    if not smtp.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported(
            "the address needs SMTPUTF8, which the upstream does not offer"
        )
    return [*options, "SMTPUTF8"], "utf-8"


async def _reset(smtp: aiosmtplib.SMTP) -> bool:
    """RSET after a refused transaction; whether the session is still usable."""
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return False
    return smtp.is_connected


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        pass
    finally:
        smtp.close()


def _reply(code: int, message: str) -> Result:
    outcome = Outcome.PERMANENT if 500 <= code < 600 else Outcome.TEMPORARY
    return Result(outcome, f"{code} {message}".strip())


def _session_failure(exc: BaseException) -> str:
    """Why no session could be had, for last_error: the reply if the server gave one."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message} ({type(exc).__name__}, before MAIL FROM)"
    return f"{type(exc).__name__}: {exc}"


def make_sender(
    upstream: Upstream, *, max_connections: int = 4, tls_context: ssl.SSLContext | None = None
) -> Sender:
    if upstream.capture:
        return Capture()
    return SmtpSender(upstream, max_connections=max_connections, tls_context=tls_context)
