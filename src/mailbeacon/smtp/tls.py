"""The certificate the SMTP relay offers with STARTTLS: the operator's, or a self-signed one.

Without ``MAILBEACON_SMTP_TLS_CERT``/``_KEY`` a self-signed certificate is made at startup,
kept in memory (its files live only for the moment ``ssl`` reads them), for localhost,
127.0.0.1, ::1 and the relay's own host name. That is how Debian ships Postfix (the "snakeoil"
certificate): the session is encrypted, so a sending token never crosses the network in
clear text, but a client that verifies certificates must be told to trust this one (its PEM
is :attr:`ServerTls.self_signed_pem`) or a real certificate must be configured.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..config import Settings
from ..core.errors import ConfigError

__all__ = ["ServerTls", "self_signed_certificate", "server_tls"]

SELF_SIGNED_DAYS = 365


@dataclass(frozen=True)
class ServerTls:
    context: ssl.SSLContext
    description: str  # for the startup line: where the certificate came from
    self_signed_pem: bytes | None = None  # the generated certificate, for clients to pin


def server_tls(settings: Settings, *, now: datetime | None = None) -> ServerTls:
    """The relay's TLS context from the settings; raises :class:`ConfigError` naming the
    variable when the configured certificate or key cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.smtp_tls_cert and settings.smtp_tls_key:
        cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
        try:
            context.load_cert_chain(cert, key)
        except FileNotFoundError as exc:
            variable = "CERT" if not Path(cert).exists() else "KEY"
            raise ConfigError(
                f"MAILBEACON_SMTP_TLS_{variable}: no such file: {exc.filename}",
                variable=f"MAILBEACON_SMTP_TLS_{variable}",
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "MAILBEACON_SMTP_TLS_CERT and MAILBEACON_SMTP_TLS_KEY must be a PEM certificate "
                f"and its private key ({cert}, {key}): {exc}",
                variable="MAILBEACON_SMTP_TLS_CERT",
            ) from exc
        return ServerTls(context, f"certificate {cert}")
    names = ["localhost", settings.smtp_host]
    pem, key_pem = self_signed_certificate(names, now=now)
    with tempfile.TemporaryDirectory(prefix="mailbeacon-tls-") as directory:
        cert_path, key_path = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_path.write_bytes(pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return ServerTls(context, "a self-signed certificate", pem)


def self_signed_certificate(
    names: list[str], *, now: datetime | None = None
) -> tuple[bytes, bytes]:
    """(certificate, private key), both PEM: P-256, valid for a year from ``now``, for each of
    ``names`` (host names or IP addresses) and the loopback addresses."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailbeacon SMTP relay")])
    alternative: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    for name in dict.fromkeys(n.strip("[]") for n in names if n):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            alternative.append(x509.DNSName(name))
            continue
        if not address.is_unspecified and not address.is_loopback:
            alternative.append(x509.IPAddress(address))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
