"""A real upstream SMTP server for tests: aiosmtpd's ``Controller`` in a thread, on a free port.

As in aiosmtpd's own tests, the server runs in a thread with its own event loop; the handler
keeps everything in memory:

- every accepted transaction as a :class:`Delivery` (MAIL FROM, RCPT TOs, the bytes of DATA,
  and which connection carried it);
- scripted replies, consumed in order, for MAIL (any), RCPT and DATA (per recipient):
  ``"451 4.3.0 try later"`` then the default ``250``, or ``"550 5.1.1 no such user"``;
- connections: how many were opened and the most open at once (a connection counts from its
  EHLO, so the Controller's own start-up probe does not); ``hold_data_until(n)`` makes DATA
  wait until ``n`` sessions were open at once, so a test can see a concurrency bound reached
  without sleeping.

Modes: ``plain``; ``starttls`` (required before MAIL, and before AUTH); ``smtps`` (implicit
TLS). With ``credentials`` the server offers AUTH PLAIN and LOGIN and refuses MAIL without a
successful login. TLS uses a throw-away CA and a server certificate it signed, made with
``cryptography`` (or the ``openssl`` command where that package is missing); clients trust the
CA through :meth:`Certificates.client_context`, as an operator with a private CA would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailbeacon.config import Upstream

__all__ = [
    "Certificates",
    "Delivery",
    "Recorder",
    "UpstreamServer",
    "make_certificates",
    "upstream_server",
]

Mode = Literal["plain", "starttls", "smtps"]
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what clients trust
    cert: Path  # the server's certificate, for localhost and 127.0.0.1
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts the test CA only, hostname checked: what an operator with a private CA uses."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_certificates(directory: Path) -> Certificates:
    """A CA and a server certificate it signed, valid for two days: made with ``cryptography``
    when it is installed, else with the ``openssl`` command."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _with_openssl(directory)
    else:
        _with_cryptography(directory)
    return Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def _with_cryptography(directory: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("mailbeacon test CA", "mailbeacon test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    alternative = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    server = (
        builder("localhost", "mailbeacon test CA", server_key)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _with_openssl(directory: Path) -> None:
    if shutil.which("openssl") is None:
        message = "making test certificates needs the cryptography package or openssl"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    def openssl(*args: str) -> None:
        command = ["openssl", *args]
        subprocess.run(command, cwd=directory, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=mailbeacon test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "2", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # exactly the bytes of DATA, dot-stuffing undone
    connection: int  # 1 for the first connection the server saw, and so on
    login: str | None  # who authenticated on that connection
    tls: bool  # whether the connection was encrypted
    mail_options: list[str]  # MAIL FROM parameters: SIZE=..., BODY=8BITMIME, SMTPUTF8


@dataclass
class Recorder:
    """The aiosmtpd handler: records transactions, plays scripted replies, counts sessions.

    Its methods run on the server's thread; tests read its lists after a send returned.
    """

    credentials: tuple[str, str] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (command, reply)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, succeeded)
    connections: int = 0
    peak: int = 0
    _open: dict[int, tuple[int, SMTP]] = field(default_factory=dict)  # id -> (number, session)
    _mail: deque[str] = field(default_factory=deque)
    _rcpt: dict[str, deque[str]] = field(default_factory=dict)
    _data: dict[str, deque[str]] = field(default_factory=dict)
    _hold: int = 0
    _reached: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what tests ask for --------------------------------------------------------------

    def reply_to_mail(self, *replies: str) -> None:
        """The next MAIL FROM commands (of any connection) get these replies, in order."""
        self._mail.extend(replies)

    def reply_to_rcpt(self, address: str, *replies: str) -> None:
        self._rcpt.setdefault(address.lower(), deque()).extend(replies)

    def reply_to_data(self, address: str, *replies: str) -> None:
        """Replies to the data of transactions whose (first) recipient is ``address``."""
        self._data.setdefault(address.lower(), deque()).extend(replies)

    def hold_data_until(self, sessions: int) -> None:
        """DATA waits (10 s at most) until ``sessions`` sessions have been open at once."""
        self._hold = sessions
        self._reached.clear()

    @property
    def open_now(self) -> int:
        return len(self._open)

    def delivered_to(self, address: str) -> list[Delivery]:
        return [d for d in self.deliveries if address in d.rcpt_tos]

    # --- aiosmtpd's side -----------------------------------------------------------------

    def began(self, server: SMTP) -> None:
        with self._lock:
            if id(server) in self._open:  # EHLO again, after STARTTLS
                return
            self.connections += 1
            self._open[id(server)] = (self.connections, server)
            self.peak = max(self.peak, len(self._open))
            if self._hold and self.peak >= self._hold:
                self._reached.set()

    def ended(self, server: SMTP) -> None:
        with self._lock:
            self._open.pop(id(server), None)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.credentials and not session.authenticated:
            return self._refuse("MAIL", "530 5.7.0 Authentication required")
        if self._mail:
            reply = self._mail.popleft()
            if not reply.startswith("250"):
                return self._refuse("MAIL", reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        scripted = self._rcpt.get(address.lower())
        if scripted:
            reply = scripted.popleft()
            if not reply.startswith("250"):
                return self._refuse("RCPT", reply)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._hold:
            await asyncio.to_thread(self._reached.wait, 10)
        scripted = self._data.get(envelope.rcpt_tos[0].lower()) if envelope.rcpt_tos else None
        if scripted:
            reply = scripted.popleft()
            if not reply.startswith("250"):
                return self._refuse("DATA", reply)
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        login = session.auth_data.login.decode() if session.auth_data else None
        with self._lock:
            self.deliveries.append(
                Delivery(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content,
                    self._open.get(id(server), (0, server))[0],
                    login,
                    server.transport is not None
                    and server.transport.get_extra_info("sslcontext") is not None,
                    list(envelope.mail_options),
                )
            )
            number = len(self.deliveries)
        return f"250 2.0.0 Ok: queued as T{number}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        user = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _refuse(self, command: str, reply: str) -> str:
        self.refused.append((command, reply))
        return reply


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP, telling the recorder when a session starts (EHLO) and ends."""

    async def smtp_EHLO(self, hostname: str) -> None:
        self.event_handler.began(self)
        await super().smtp_EHLO(hostname)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.ended(self)
        super().connection_lost(error)


class _Controller(Controller):
    """Listens on the given port, or on a free one the system picks when it is 0."""

    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class UpstreamServer:
    mode: Mode
    port: int
    recorder: Recorder
    controller: _Controller

    def upstream(self, *, username: str | None = None, password: str | None = None) -> Upstream:
        """Where mailbeacon should send to reach this server (as ``parse_upstream`` makes)."""
        tls = {"plain": "none", "starttls": "starttls", "smtps": "tls"}[self.mode]
        return Upstream(
            capture=False, host=HOST, port=self.port, username=username, password=password, tls=tls
        )

    def drop_connections(self) -> None:
        """Close every open session from the server's side, as an idle timeout would."""
        done = threading.Event()

        def close_all() -> None:
            for _, session in list(self.recorder._open.values()):
                if session.transport is not None:
                    session.transport.close()
            done.set()

        self.controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)


@contextlib.contextmanager
def upstream_server(
    mode: Mode = "plain",
    *,
    certificates: Certificates | None = None,
    credentials: tuple[str, str] | None = None,
    mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN"),
    port: int | None = None,
    smtputf8: bool = True,
) -> Iterator[UpstreamServer]:
    """A running upstream SMTP server until the block ends; with ``credentials``, AUTH with
    ``mechanisms`` (aiosmtpd's built-in LOGIN and PLAIN) is required before MAIL."""
    if mode != "plain" and certificates is None:
        raise ValueError(f"a {mode} server needs certificates")
    recorder = Recorder(credentials=credentials)
    options: dict[str, Any] = {
        "hostname": HOST,
        "port": port or 0,
        "server_hostname": "localhost",
        "enable_SMTPUTF8": smtputf8,
    }
    if credentials:
        options["authenticator"] = recorder.authenticate
        options["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m not in mechanisms]
    if mode == "starttls":
        assert certificates is not None
        options |= {"tls_context": certificates.server_context(), "require_starttls": True}
    elif mode == "smtps":
        assert certificates is not None
        # aiosmtpd offers AUTH only after STARTTLS unless told otherwise; the connection is
        # encrypted from the start here. MAIL without a login is refused by the recorder.
        options |= {"ssl_context": certificates.server_context(), "auth_require_tls": False}
    controller = _Controller(recorder, **options)
    controller.start()
    try:
        yield UpstreamServer(mode, controller.port, recorder, controller)
    finally:
        controller.stop()
