"""The SMTP relay: any SMTP client submits mail, mailbeacon tracks it and queues each copy.

A submission server (RFC 6409) on aiosmtpd, run by ``mailbeacon serve`` beside the HTTP
server (on its event loop) or alone by ``mailbeacon smtp``:

- AUTH PLAIN or LOGIN, any user name, the project's sending token as the password, before
  MAIL. Where ``smtp_require_tls`` holds (by default unless the relay listens on a loopback
  address) AUTH is offered only after STARTTLS, so a token never crosses a network in clear.
- STARTTLS with the configured certificate or a self-signed one (:mod:`.tls`).
- SIZE advertises ``max_message_bytes`` (the API's limit too); a larger message is refused
  when MAIL FROM declares it, or as soon as DATA passes it.
- Each message goes through the API's own pipeline, ``service.sending.send`` (scope ``smtp``, the
  key of its Idempotency-Key header), in a thread, so the event loop never waits on the
  database. 250 is answered only after that transaction committed: from then on the message
  and each recipient's instrumented copy are in the outbound queue, and nothing is lost.

With a bounce domain (``MAILBEACON_BOUNCE_DOMAIN``, whose MX points here) the relay is also
where bounces come back: mail to a copy's VERP return path (core/bounces/verp.py) is taken
without AUTH, as an MX takes mail, read as a delivery status notification and recorded
(service/bounces.py). Any other recipient still needs AUTH.

The message is read by :mod:`mailbeacon.core.intake.relayed` (control headers honoured and cut out);
the envelope decides who gets a copy (RCPT TO; Bcc recipients included), the headers only
label them to, cc or bcc.

Replies, as an MTA gives them (RFC 5321, with RFC 3463 enhanced codes)::

    250 2.0.0  accepted and stored: "Ok: queued as <message id>"
    553 5.1.3  RCPT TO an address that is not one (553 5.1.7 for MAIL FROM)
    553 5.6.7  a non-ASCII address without SMTPUTF8, or a non-ASCII local part
    421 4.7.0  too many failed AUTH attempts (core/auth_throttle.py): the session closes
    530 5.7.0  MAIL before AUTH
    535 5.7.8  a wrong token, or SMTP turned off for the project
    538 5.7.11 AUTH before STARTTLS where TLS is required
    454 4.7.0  the token could not be checked (database unreachable): the client retries
    452 4.5.3  more recipients than a message may have: the client sends the rest apart
    552 5.3.4  larger than max_message_bytes
    554 5.6.0  not a message, no From, a bad control header, an undecodable HTML part, MIME
               parts nested deeper than max_mime_depth
    550 5.7.1  an unknown route, or an inbound one; SMTP turned off since AUTH
    550 5.7.0  an Idempotency-Key reused for another message
    451 4.3.0  storage unavailable, or any unexpected failure: the client keeps the mail
    550 5.1.1  without AUTH, RCPT TO a bounce address that names no copy
    250 2.0.0  a bounce: "Ok: bounce recorded" (or "Ok: nothing recorded", for a delay
               warning, an auto-reply or a report received before)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any, AnyStr
from urllib.parse import urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.exc import SQLAlchemyError

from ..core.auth_throttle import AuthThrottle
from ..core.bounces import verp
from ..core.errors import AcceptError, ConfigError, InstrumentError, RelayedMessageError
from ..core.intake.relayed import (
    RelayedMessage,
    add_fields,
    read_relayed,
    recipient_kinds,
)
from ..core.intake.submission import MAX_RECIPIENTS, parse_address
from ..memory import after_large
from ..service import bounces
from ..service.accept import Accepted, Intake
from ..service.sending import send
from ..store import tenancy
from .tls import ServerTls, server_tls

if TYPE_CHECKING:
    from ..service.context import Services

__all__ = ["SCOPE", "RelayHandler", "SmtpRelay", "intake_from_relayed"]

log = logging.getLogger(__name__)

SCOPE = "smtp"  # idempotency keys of relayed mail are their own namespace
SHUTDOWN_SECONDS = 30.0  # how long stop() lets messages being stored finish
_MAX_TEXT = 400  # characters of an error text in a reply (a reply line is at most 512)

ACCEPTED = "250 2.0.0 Ok: queued as {id}"
REPLAYED = "250 2.0.0 Ok: queued as {id} (accepted before with this Idempotency-Key)"
AUTH_REQUIRED = "530 5.7.0 Authentication required: AUTH with the project's sending token"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_SMTP_OFF = "535 5.7.8 SMTP is turned off for this project (smtp_enabled)"
SMTP_OFF = "550 5.7.1 SMTP is turned off for this project (smtp_enabled)"
AUTH_UNAVAILABLE = "454 4.7.0 Temporary authentication failure, try again later"
STORAGE_UNAVAILABLE = "451 4.3.0 Storage unavailable, try again later"
FAILED = "451 4.3.0 Local error in processing, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_MANY_RECIPIENTS = f"452 4.5.3 Too many recipients: at most {MAX_RECIPIENTS} per message"
TOO_MANY_FAILURES = "421 4.7.0 Too many failed authentication attempts, closing connection"
BAD_RECIPIENT = "553 5.1.3 Bad recipient address syntax"
BAD_SENDER = "553 5.1.7 Bad sender address syntax"
NEEDS_SMTPUTF8 = "553 5.6.7 Non-ASCII addresses need SMTPUTF8 (RFC 6531)"
NON_ASCII_LOCAL_PART = "553 5.6.7 Non-ASCII local parts cannot be relayed by this server"
NO_SUCH_BOUNCE_ADDRESS = "550 5.1.1 No such bounce address"
BOUNCE_RECORDED = "250 2.0.0 Ok: bounce recorded"
NOT_A_BOUNCE = "250 2.0.0 Ok: nothing recorded (no new delivery failure in it)"
# A refused AcceptError, by its API code: the reply's code and enhanced status.
_ACCEPT_REPLIES = {
    "route_not_found": "550 5.7.1",
    "route_is_inbound": "550 5.7.1",
    "idempotency_key_conflict": "550 5.7.0",
    "idempotency_in_progress": "451 4.3.0",
}
# aiosmtpd's own replies that have no enhanced status code, as an MTA words them.
_AIOSMTPD_REPLIES = {
    "500 Line too long (see RFC5321 4.5.3.1.6)": (
        "554 5.6.0 A line of the message is longer than 998 characters (RFC 5322 2.1.1)"
    ),
}
_TOO_BIG = ("552 Error: message size exceeds fixed maximum", "552 Error: Too much mail data")


def intake_from_relayed(
    message: RelayedMessage, recipients: list[tuple[str, str]], envelope_from: str | None = None
) -> Intake:
    """The accept pipeline's view of a relayed message (``message.raw`` is what is sent).
    ``envelope_from`` is the client's MAIL FROM, kept for the copies' own: bounces go where
    the client asked (a VERP address, say), not to the From header's mailbox."""
    return Intake(
        raw=message.raw,
        recipients=recipients,
        source="smtp",
        from_email=message.sender.email,
        from_name=message.sender.name,
        subject=message.subject,
        to=[{"email": a.email, "name": a.name} for a in message.to],
        cc=[{"email": a.email, "name": a.name} for a in message.cc],
        bcc=[{"email": a, "name": None} for a, kind in recipients if kind == "bcc"],
        reply_to=list(message.reply_to),
        route=message.route,
        overrides=message.overrides,
        tag=message.tag,
        metadata=message.metadata,
        attachments=message.attachments,
        envelope_from=envelope_from,
    )


def _reply(code: str, problem: BaseException | str) -> str:
    """``code`` and the problem's text on one line of printable ASCII."""
    text = " ".join(str(problem).split())
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 3] + "..."
    return f"{code} {text}"


def _envelope_address(address: str, smtputf8: bool) -> str:
    """The address of MAIL FROM or RCPT TO as it will be used (an internationalised domain
    in its IDNA form), or the reply refusing it: checked at the command, as an MTA does, so a
    bad recipient is never "accepted" and then never delivered."""
    if not address.isascii() and not smtputf8:
        return NEEDS_SMTPUTF8
    if "<" in address or ">" in address:
        return BAD_RECIPIENT
    parsed = parse_address(address)
    if parsed is not None:
        return parsed.email
    return BAD_RECIPIENT if address.rpartition("@")[0].isascii() else NON_ASCII_LOCAL_PART


class RelayHandler:
    """aiosmtpd's handler: who may send (AUTH), and each message into the accept pipeline."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.throttle = AuthThrottle()  # failed logins, per client address
        self.closing = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # --- AUTH ---------------------------------------------------------------------------

    async def authenticate(self, credentials: Any) -> AuthResult:
        """The project whose sending token is the password becomes the session's auth_data."""
        if not isinstance(credentials, LoginPassword):
            return AuthResult(success=False, handled=False)
        token = credentials.password.decode("utf-8", "replace")
        try:
            project = await asyncio.to_thread(self._project_for, token)
        except SQLAlchemyError as exc:
            log.warning("SMTP relay: cannot check a token: %s", exc)
            return AuthResult(success=False, handled=False, message=AUTH_UNAVAILABLE)
        if project is None:
            return AuthResult(success=False, handled=False, message=AUTH_INVALID)
        if not project.smtp_enabled:
            return AuthResult(success=False, handled=False, message=AUTH_SMTP_OFF)
        return AuthResult(success=True, auth_data=project)

    def _project_for(self, token: str) -> tenancy.Project | None:
        with self.services.db.read() as conn:
            return tenancy.project_by_sending_token(conn, token)

    # --- the transaction ----------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return SHUTTING_DOWN
        if not session.authenticated and self.services.settings.bounce_domain is None:
            return AUTH_REQUIRED  # with a bounce domain, RCPT TO decides (a bounce needs none)
        if address not in ("", "<>"):  # the null sender is always allowed
            smtputf8 = any(option.upper() == "SMTPUTF8" for option in options)
            checked = _envelope_address(address, smtputf8)
            if checked.startswith(("5", "4")):
                return BAD_SENDER if checked == BAD_RECIPIENT else checked
            address = checked
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        if not session.authenticated:
            return self._bounce_recipient(envelope, address)
        smtputf8 = any(option.upper() == "SMTPUTF8" for option in envelope.mail_options)
        checked = _envelope_address(address, smtputf8)
        if checked.startswith(("5", "4")):
            return checked
        envelope.rcpt_tos.append(checked)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    def _bounce_recipient(self, envelope: Envelope, address: str) -> str:
        """RCPT TO without AUTH: a copy's return path, or nothing."""
        domain = self.services.settings.bounce_domain
        assert domain is not None  # MAIL without AUTH is refused otherwise
        if not verp.is_ours(address, domain):
            return AUTH_REQUIRED
        if verp.copy_of(self.services.codec, address, domain) is None:
            return NO_SUCH_BOUNCE_ADDRESS  # a signature check: no database work
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not session.authenticated:  # RCPT TO let bounce addresses only through
            return await self._bounce(envelope)
        project: object = session.auth_data  # aiosmtpd types it as None
        assert isinstance(project, tenancy.Project)  # MAIL needs AUTH, DATA needs MAIL
        content = envelope.original_content or b""
        self._in_flight += 1
        self._idle.clear()
        try:
            # aiosmtpd keeps the null sender as "<>"; stored and sent on as "" (MAIL FROM:<>)
            mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
            return await asyncio.to_thread(
                self.accept, project, list(envelope.rcpt_tos), content, mail_from
            )
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
            after_large(len(content))

    async def _bounce(self, envelope: Envelope) -> str:
        services = self.services
        domain = services.settings.bounce_domain
        assert domain is not None
        content = envelope.original_content or b""
        try:
            done = await asyncio.to_thread(
                bounces.receive,
                services.db,
                services.codec,
                domain,
                list(envelope.rcpt_tos),
                content,
                services.clock.now(),
            )
        except SQLAlchemyError as exc:
            log.warning("SMTP relay: storage unavailable for a bounce, the MTA retries: %s", exc)
            return STORAGE_UNAVAILABLE
        except Exception:  # the sending MTA keeps it and retries
            log.exception("SMTP relay: a bounce could not be read")
            return FAILED
        return BOUNCE_RECORDED if done else NOT_A_BOUNCE

    @property
    def in_flight(self) -> int:
        """Messages being stored now (their clients wait for the reply to DATA)."""
        return self._in_flight

    async def wait_idle(self) -> None:
        """Until no message is being stored."""
        await self._idle.wait()

    def accept(
        self,
        project: tenancy.Project,
        recipients: list[str],
        content: bytes,
        mail_from: str | None = None,
    ) -> str:
        """Store one submitted message (in a worker thread); the reply to its DATA."""
        try:
            message = read_relayed(content, max_depth=self.services.settings.max_mime_depth)
            current = self._current(project)
            if current is None or not current.smtp_enabled:
                return SMTP_OFF
            kinds = recipient_kinds(recipients, message)
            return self._store(current, message, kinds, mail_from)
        except (RelayedMessageError, InstrumentError) as exc:
            return _reply("554 5.6.0", exc)
        except RecursionError:  # a structure the depth check let through: still permanent
            return _reply("554 5.6.0", "The message's MIME structure is nested too deeply.")
        except AcceptError as exc:
            return _reply(_ACCEPT_REPLIES.get(exc.code, "554 5.6.0"), exc)
        except SQLAlchemyError as exc:
            log.warning("SMTP relay: storage unavailable, the client will retry: %s", exc)
            return STORAGE_UNAVAILABLE
        except Exception:  # the client keeps the message and retries: nothing is lost
            log.exception("SMTP relay: a message could not be accepted")
            return FAILED

    def _current(self, project: tenancy.Project) -> tenancy.Project | None:
        """The project as it is now: a session lasts, its settings and routes may change."""
        with self.services.db.read() as conn:
            return tenancy.project_by_id(conn, project.id)

    def _store(
        self,
        project: tenancy.Project,
        message: RelayedMessage,
        recipients: list[tuple[str, str]],
        mail_from: str | None,
    ) -> str:
        services = self.services
        now = services.clock.now()
        # The hash covers what is sent (control headers aside) and to whom, so a retry matches
        # and the same key on another message or envelope is a conflict.
        digest = hashlib.sha256(message.raw)
        digest.update("\0".join(address for address, _ in recipients).encode())
        digest.update(b"\0" + (mail_from or "").encode())
        intake = intake_from_relayed(message, recipients, mail_from)
        missing = []
        if not message.has_date:  # an MSA may add them (RFC 6409 8.2, 8.3); Gmail wants both
            missing.append(("Date", format_datetime(now)))
        if not message.has_message_id:
            domain = message.sender.email.rpartition("@")[2] or "mailbeacon.invalid"
            missing.append(("Message-ID", make_msgid(domain=domain)))
        if missing:
            intake = replace(intake, raw=add_fields(message.raw, missing))
        _, body, replayed = send(
            services,
            project,
            [intake],
            now,
            scope=SCOPE,
            key=message.idempotency_key,
            request_hash=digest.hexdigest(),
            respond=_respond,
        )
        public_id = str(body["message_id"])
        log.info("SMTP relay: queued %s, %d recipient copies", public_id, len(recipients))
        return (REPLAYED if replayed else ACCEPTED).format(id=public_id)


def _respond(accepted: list[Accepted]) -> tuple[int, dict[str, str]]:
    return 250, {"message_id": accepted[0].public_id}


class _Unchecked(AuthResult):
    """Credentials aiosmtpd parsed and has not judged: :class:`_RelaySession` checks them."""


class _Session(Session):
    """aiosmtpd's session, without the deprecation warning it logs on every login."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _RelaySession(SMTP):
    """aiosmtpd's protocol for one connection, with three changes:

    - credentials are checked off the event loop (aiosmtpd calls its authenticator
      synchronously; a token lookup is database work);
    - its replies without an enhanced status code get the one an MTA gives;
    - the relay knows its open connections, to close them when it stops.
    """

    def __init__(
        self, handler: RelayHandler, *, sessions: set[_RelaySession], **options: Any
    ) -> None:
        super().__init__(handler, authenticator=_defer, **options)
        self.relay_handler = handler
        self.auth_failures = 0
        self.sessions = sessions

    def _create_session(self) -> Session:
        return _Session(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.sessions.discard(self)
        super().connection_lost(error)

    async def auth_PLAIN(self, _: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: SMTP, args: list[str]) -> AuthResult:
        return await self._checked(await super().auth_LOGIN(_, args))

    async def _checked(self, result: AuthResult) -> AuthResult:
        if not isinstance(result, _Unchecked):  # aborted, or not base64: already answered
            return result
        throttle = self.relay_handler.throttle
        peer = str(self.session.peer[0]) if self.session and self.session.peer else ""
        if throttle.refused(peer, time.monotonic()):
            await self._close(TOO_MANY_FAILURES)
            return AuthResult(success=False, handled=True)
        checked = await self.relay_handler.authenticate(result.auth_data)
        if checked.success or checked.message != AUTH_INVALID:
            return checked
        # A wrong password: answered later each time, and the session closed after a few.
        self.auth_failures += 1
        await asyncio.sleep(throttle.failed(peer, time.monotonic()))
        if self.auth_failures >= throttle.per_session or throttle.refused(peer, time.monotonic()):
            await self._close(TOO_MANY_FAILURES)  # the answer to this attempt, and goodbye
            return AuthResult(success=False, handled=True)
        return checked

    async def _close(self, reply: str) -> None:
        await self.push(reply)
        if self.transport is not None:
            self.transport.close()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            if status.startswith(_TOO_BIG):
                limit = self.data_size_limit
                await super().push(
                    f"552 5.3.4 Message size exceeds fixed maximum message size ({limit} bytes)"
                )
                return
            if status in _AIOSMTPD_REPLIES:
                await super().push(_AIOSMTPD_REPLIES[status])
                return
        await super().push(status)


def _defer(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
    return _Unchecked(success=False, handled=False, auth_data=data)


class SmtpRelay:
    """The relay's listening socket and sessions, on the running event loop.

    ``host`` and ``port`` default to the settings (port 0: one the system picks, see
    :attr:`port`); ``tls`` to the configured or a self-signed certificate.
    """

    def __init__(
        self,
        services: Services,
        *,
        host: str | None = None,
        port: int | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        settings = services.settings
        self.services = services
        self.host = settings.smtp_host if host is None else host
        self._port = settings.smtp_port if port is None else port
        self.tls = tls or server_tls(settings)
        self.require_tls = settings.smtp_require_tls
        self.max_message_bytes = settings.max_message_bytes
        self.hostname = urlsplit(settings.public_url).hostname or "mailbeacon"
        self.handler = RelayHandler(services)
        self._sessions: set[_RelaySession] = set()
        if self.tls.self_signed_pem is not None and self.require_tls:
            log.warning(
                "SMTP relay: STARTTLS offers a self-signed certificate, which clients that "
                "verify certificates refuse: set MAILBEACON_SMTP_TLS_CERT and "
                "MAILBEACON_SMTP_TLS_KEY"
            )
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on (the one the system picked, for port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def listening(self) -> bool:
        return self._server is not None

    def describe(self) -> str:
        auth = "after STARTTLS only" if self.require_tls else "with or without STARTTLS"
        return (
            f"smtp://{self.host}:{self.port} (STARTTLS with {self.tls.description}, "
            f"AUTH {auth}, SIZE {self.max_message_bytes})"
        )

    def _session(self, loop: asyncio.AbstractEventLoop) -> Callable[[], _RelaySession]:
        def make() -> _RelaySession:
            return _RelaySession(
                self.handler,
                sessions=self._sessions,
                loop=loop,
                hostname=self.hostname,
                ident="mailbeacon ESMTP",
                data_size_limit=self.max_message_bytes,
                enable_SMTPUTF8=True,
                tls_context=self.tls.context,
                auth_require_tls=self.require_tls,
            )

        return make

    async def start(self) -> None:
        """Listen; raises :class:`ConfigError` naming the setting when that is impossible
        (the port is taken, the address is not this machine's)."""
        # aiosmtpd logs every command (addresses included) at INFO: keep its warnings only.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self.handler.closing = False
        try:
            self._server = await loop.create_server(
                self._session(loop), host=self.host or None, port=self._port, reuse_address=True
            )
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"MAILBEACON_SMTP_PORT: the SMTP relay cannot listen on {self.host}:{self._port}: "
                f"{reason} (MAILBEACON_SMTP_PORT=0 turns it off in serve)",
                variable="MAILBEACON_SMTP_PORT",
            ) from exc

    async def stop(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Stop listening, let messages being stored finish (up to ``timeout`` seconds), then
        close every session. A client cut off before its 250 still has its message."""
        server = self._server
        if server is None:
            return
        server.close()
        self._server = None
        self.handler.closing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.handler.wait_idle(), timeout)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
