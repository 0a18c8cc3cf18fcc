"""mailbeacon's settings: one declarative table, read from the environment and an optional file.

Every setting has an environment variable (``MAILBEACON_*``), a default and a help text; the
same table validates values, documents them (``mailbeacon settings``) and names the exact
variable to fix when a value is wrong. A TOML file named by ``MAILBEACON_CONFIG`` may hold the
same settings under their short names (``database_url = "..."``); the environment wins.

Nothing here is global: :func:`load_settings` takes the environ mapping, so tests pass a dict.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .core.errors import ConfigError, InvalidHostname
from .core.hosts.hostnames import normalise_domain
from .core.instrumentation.linkrules import host_of
from .core.instrumentation.tokens import Keyring
from .core.instrumentation.tracker import check_base_url

__all__ = ["SETTINGS", "Settings", "Upstream", "load_settings"]

CONFIG_FILE_VARIABLE = "MAILBEACON_CONFIG"


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where accepted mail goes: captured locally, or relayed to an SMTP server."""

    capture: bool
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    tls: str = "starttls"  # "starttls" (required), "tls" (implicit), "none"

    def describe(self) -> str:
        if self.capture:
            return "local capture"
        user = f"{self.username}@" if self.username else ""
        return f"smtp://{user}{self.host}:{self.port} ({self.tls})"


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str
    database_url: str
    signing_keys: str | None
    public_url: str
    host: str
    port: int
    upstream: Upstream
    token_lifetime_days: int
    settle_seconds: float
    ip_privacy: str
    sqlite_synchronous: str
    outbound_concurrency: int
    max_message_bytes: int
    max_request_bytes: int  # of one HTTP request's body (web/limits.py)
    max_mime_depth: int  # multipart nesting the relay accepts
    auto_migrate: bool
    smtp_host: str
    smtp_port: int  # 0: no relay in serve
    smtp_tls_cert: str | None
    smtp_tls_key: str | None
    smtp_require_tls: bool  # AUTH only after STARTTLS
    webhook_allow_private_networks: bool
    webhook_timeout_seconds: float
    webhook_concurrency_per_endpoint: int
    trust_forwarded_for: bool  # client IPs from X-Forwarded-For (behind Caddy)
    tracking_base_domain: str | None  # p{sid}.{base} per project; None: the public URL
    # one CNAME target shared by every project's custom domains; None: each domain points at
    # its own project's default host p{sid}.{base} (service/domains.py, DomainPolicy)
    tracking_cname_target: str | None
    dns_resolvers: tuple[tuple[str, int], ...]  # (ip, port); empty: the system's
    dns_timeout_seconds: float
    domain_verify_deadline_hours: float
    domain_recheck_seconds: float
    journal_dir: str  # serve's hit journal lives here (store/journal.py)
    journal_cap: int  # hits the journal may hold before the redirect path stops keeping them
    lease_seconds: float  # a worker's claim on copies and webhook deliveries (workers/leases.py)
    database_pool_size: int  # PostgreSQL connections each process keeps
    database_max_overflow: int  # and may open beyond them at a peak
    bounce_domain: str | None  # copies' VERP return paths (core/bounces/verp.py); None: off
    # days each kind of personal data is kept (workers/retention.py); 0: for ever
    retention_hits_days: int
    retention_bodies_days: int
    retention_personal_days: int

    @property
    def development(self) -> bool:
        return self.environment == "development"

    def keyring(self) -> Keyring | None:
        """The signing keyring, or None when development mode will generate one."""
        if self.signing_keys is None:
            return None
        return Keyring.parse(self.signing_keys, setting="MAILBEACON_SIGNING_KEYS")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: str | None  # None: required (or generated, see help)
    help: str
    parse: Callable[[str, str], Any] = lambda value, variable: value
    choices: tuple[str, ...] = ()

    @property
    def variable(self) -> str:
        return "MAILBEACON_" + self.name.upper()


def _int(minimum: int) -> Callable[[str, str], int]:
    def parse(value: str, variable: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(
                f"{variable} must be a whole number, got {value!r}", variable=variable
            ) from None
        if number < minimum:
            raise ConfigError(
                f"{variable} must be at least {minimum}, got {number}", variable=variable
            )
        return number

    return parse


def _float(value: str, variable: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(
            f"{variable} must be a number, got {value!r}", variable=variable
        ) from None
    if number < 0:
        raise ConfigError(f"{variable} must not be negative, got {number}", variable=variable)
    return number


def _seconds(value: str, variable: str) -> float:
    number = _float(value, variable)
    if number == 0:
        raise ConfigError(f"{variable} must be more than 0 seconds", variable=variable)
    return number


def _bool(value: str, variable: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "on": True}
    words |= {"0": False, "false": False, "no": False, "off": False}
    if value.strip().lower() not in words:
        raise ConfigError(f"{variable} must be true or false, got {value!r}", variable=variable)
    return words[value.strip().lower()]


def _path(value: str, variable: str) -> str | None:
    return value.strip() or None  # an empty variable is an unset one


def _domain(value: str, variable: str) -> str | None:
    """A domain name (IDNA-normalised); an empty variable is an unset one."""
    if not value.strip():
        return None
    if value.strip().startswith("*."):
        raise ConfigError(
            f"{variable}: give the domain without '*.' (the wildcard belongs to the DNS "
            f"record), such as {value.strip()[2:]}",
            variable=variable,
        )
    try:
        name = normalise_domain(value)
    except InvalidHostname as exc:
        raise ConfigError(f"{variable}: {exc}", variable=variable) from None
    if "." not in name:
        raise ConfigError(
            f"{variable} must be a domain name such as t.example.com, got {name!r}",
            variable=variable,
        )
    return name


def _resolvers(value: str, variable: str) -> tuple[tuple[str, int], ...]:
    """``ip`` or ``ip:port`` (``[ipv6]:port``), comma-separated; empty: the system's."""
    found: list[tuple[str, int]] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        address, port = entry, "53"
        if entry.startswith("["):
            address, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif entry.count(":") == 1:
            address, _, port = entry.partition(":")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"{variable}: {entry!r} is not an IP address (give ip or ip:port, "
                "comma-separated, such as 1.1.1.1,[2606:4700:4700::1111]:53)",
                variable=variable,
            ) from None
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{variable}: {entry!r} has an invalid port", variable=variable)
        found.append((str(ip), int(port)))
    return tuple(found)


def _public_url(value: str, variable: str) -> str:
    try:
        return check_base_url(value)
    except ValueError:
        raise ConfigError(
            f"{variable} must be an absolute http(s) URL, got {value!r}", variable=variable
        ) from None


def _database_url(value: str, variable: str) -> str:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        raise ConfigError(
            f"{variable} must be a sqlite:///path or postgresql://... URL, got {value!r}",
            variable=variable,
        )
    if value.startswith("postgres:"):
        value = "postgresql:" + value.removeprefix("postgres:")
    return value


def parse_upstream(value: str, variable: str, tls: str = "starttls") -> Upstream:
    if value.strip().lower() == "capture":
        return Upstream(capture=True)
    url = urlsplit(value)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ConfigError(
            f"{variable} must be 'capture' or smtp://user:password@host:port, got {value!r}",
            variable=variable,
        )
    try:
        port = url.port or (465 if url.scheme == "smtps" else 587)
    except ValueError:
        raise ConfigError(f"{variable} has an invalid port: {value!r}", variable=variable) from None
    return Upstream(
        capture=False,
        host=url.hostname,
        port=port,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        tls="tls" if url.scheme == "smtps" else tls,
    )


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "environment",
        "production",
        "development generates a signing key when none is set; production refuses to start "
        "without one",
        choices=("development", "production"),
    ),
    Setting(
        "database_url",
        "sqlite:///mailbeacon.sqlite3",
        "SQLAlchemy URL: sqlite:///path (one machine) or postgresql://user@host/db",
        _database_url,
    ),
    Setting(
        "signing_keys",
        None,
        "token signing keys, newest first: id:secret,id:secret (secrets of 32+ bytes); "
        "generated and kept in the database in development",
    ),
    Setting(
        "public_url",
        None,
        "the base URL of tracking links and of the API as seen by recipients and clients "
        "(default: http://HOST:PORT)",
        _public_url,
    ),
    Setting("host", "127.0.0.1", "interface mailbeacon serve listens on"),
    Setting("port", "8025", "HTTP port of mailbeacon serve", _int(0)),
    Setting(
        "upstream",
        "capture",
        "where mail goes: 'capture' (kept locally, readable through the API) or "
        "smtp://user:password@host:port (smtps:// for implicit TLS)",
    ),
    Setting(
        "upstream_tls",
        "starttls",
        "TLS to an smtp:// upstream: starttls (required), none (loopback or trusted networks)",
        choices=("starttls", "none"),
    ),
    Setting(
        "token_lifetime_days",
        "30",
        "days a tracking link records hits; older links still redirect, unrecorded",
        _int(1),
    ),
    Setting(
        "settle_seconds",
        "5",
        "how long an observation waits before promotion, so that bursts are seen whole",
        _float,
    ),
    Setting(
        "ip_privacy",
        "truncated",
        "recipient IPs: full, truncated (/24 and /48) or none",
        choices=("full", "truncated", "none"),
    ),
    Setting(
        "sqlite_synchronous",
        "normal",
        "SQLite durability: normal survives a killed process, full also a power loss (slower)",
        choices=("normal", "full"),
    ),
    Setting("outbound_concurrency", "4", "recipient copies sent to the upstream at once", _int(1)),
    Setting(
        "max_message_bytes",
        str(25 * 1024 * 1024),
        "largest message accepted, in bytes (attachments included); the SMTP relay "
        "advertises it with SIZE",
        _int(1024),
    ),
    Setting(
        "max_request_bytes",
        None,
        "largest HTTP request body the APIs read, in bytes, answered 413 beyond (before it "
        "is read whole); default: a third more than MAX_MESSAGE_BYTES plus 1 MiB, the room a "
        "JSON body needs for the largest message with its attachments in base64",
        _int(1024),
    ),
    Setting(
        "max_mime_depth",
        "100",
        "deepest multipart nesting the SMTP relay accepts (554 5.6.0 beyond; Postfix's "
        "mime_nesting_limit)",
        _int(1),
    ),
    Setting(
        "auto_migrate",
        "false",
        "apply pending database migrations when serve starts",
        _bool,
    ),
    Setting(
        "smtp_host",
        None,
        "interface the SMTP relay listens on (default: HOST)",
    ),
    Setting(
        "smtp_port",
        "2525",
        "port of the SMTP relay (mailbeacon serve and mailbeacon smtp); 0 turns the relay "
        "off in serve",
        _int(0),
    ),
    Setting(
        "smtp_tls_cert",
        None,
        "PEM certificate (chain) the SMTP relay offers with STARTTLS; without one a "
        "self-signed certificate is made at startup",
        _path,
    ),
    Setting("smtp_tls_key", None, "PEM private key of MAILBEACON_SMTP_TLS_CERT", _path),
    Setting(
        "smtp_require_tls",
        "auto",
        "refuse AUTH before STARTTLS, so that sending tokens never cross a network in "
        "clear text; auto: required unless MAILBEACON_SMTP_HOST is a loopback address",
        choices=("auto", "true", "false"),
    ),
    Setting(
        "webhook_allow_private_networks",
        "false",
        "let webhooks reach loopback, private, link-local and other non-public addresses "
        "(refused by default, at creation and at every delivery: server-side request forgery)",
        _bool,
    ),
    Setting(
        "webhook_timeout_seconds",
        "15",
        "how long one webhook delivery may take, connection included, before it counts as a "
        "timeout and is retried",
        _seconds,
    ),
    Setting(
        "webhook_concurrency_per_endpoint",
        "10",
        "webhook deliveries in flight at once to one endpoint",
        _int(1),
    ),
    Setting(
        "trust_forwarded_for",
        "false",
        "take the client IP of tracking hits from X-Forwarded-For: only behind a proxy that "
        "sets it (deploy/Caddyfile does), or clients could claim any address",
        _bool,
    ),
    Setting(
        "tracking_base_domain",
        None,
        "with wildcard DNS (*.t.example.com) pointing at mailbeacon, each project's links use "
        "its own host p{sid}.t.example.com; empty: links use PUBLIC_URL",
        _domain,
    ),
    Setting(
        "tracking_cname_target",
        None,
        "what custom tracking domains point their CNAME at. Empty with TRACKING_BASE_DOMAIN "
        "(recommended): each domain points at its own project's host "
        "p{sid}.TRACKING_BASE_DOMAIN, so the record proves which project the name is for. "
        "Set: one host shared by every project; empty without a base domain: the host of "
        "PUBLIC_URL, shared too. A shared target lets any project claim and verify a name "
        "that already points at it, such as a customer's record made before they add the "
        "domain or left after they delete it",
        _domain,
    ),
    Setting(
        "dns_resolvers",
        None,
        "resolvers asked for custom domains' CNAME records: ip or ip:port, comma-separated; "
        "empty: the system's (/etc/resolv.conf)",
        _resolvers,
    ),
    Setting(
        "dns_timeout_seconds", "5", "how long one CNAME lookup may take, retries included", _seconds
    ),
    Setting(
        "domain_verify_deadline_hours",
        "72",
        "a custom tracking domain whose CNAME is not found within this many hours of being "
        "added is marked failed (a check asked for later can still activate it)",
        _seconds,
    ),
    Setting(
        "domain_recheck_seconds",
        "300",
        "how often the CNAME of a pending custom tracking domain is looked up again",
        _seconds,
    ),
    Setting(
        "journal_dir",
        None,
        "directory of serve's hit journals: a hit is answered once it is durable here "
        "(hits-PORT.sqlite3, one per serve process), then shipped to the database; keep it on "
        "a local disk that survives restarts (default: next to a SQLite database as "
        "FILE.hits, else ./mailbeacon-hits)",
        _path,
    ),
    Setting(
        "journal_cap",
        "2000000",
        "hits a journal may hold while the database is away (about 400 bytes each); above it "
        "clicks still redirect but are not kept, and the log says so every 10 s",
        _int(1),
    ),
    Setting(
        "lease_seconds",
        "60",
        "how long a worker's claim on recipient copies and webhook deliveries lasts, renewed "
        "every third of it while the work runs: a crashed worker's work resumes after at most "
        "this long",
        _seconds,
    ),
    Setting(
        "database_pool_size",
        "5",
        "PostgreSQL connections each process keeps open; mind PostgreSQL's max_connections "
        "(100 by default) across all serve and worker processes",
        _int(1),
    ),
    Setting(
        "bounce_domain",
        None,
        "each copy's envelope sender becomes bounce+TOKEN@BOUNCE_DOMAIN (VERP), so bounces "
        "that come back later are read by the SMTP relay: point the domain's MX at the relay, "
        "which takes mail for these addresses without AUTH; empty: copies keep the "
        "message's envelope sender and only the upstream's own refusals count as bounces",
        _domain,
    ),
    Setting(
        "database_max_overflow",
        "5",
        "PostgreSQL connections a process may open beyond DATABASE_POOL_SIZE at a peak",
        _int(0),
    ),
    Setting(
        "retention_hits_days",
        "28",
        "days raw hits on tracking URLs (client IP, user agent, request headers) are kept; "
        "their events, verdicts and counters stay. 0: for ever",
        _int(0),
    ),
    Setting(
        "retention_bodies_days",
        "28",
        "days message bodies are kept: the HTML and text, each recipient's copy (captured "
        "mail included), and webhook deliveries' payloads and answers once delivered; the "
        "envelope, subject, header block and events stay. 0: for ever",
        _int(0),
    ),
    Setting(
        "retention_personal_days",
        "365",
        "days events keep their personal fields (the recipient's address and user agent); "
        "afterwards they stay, anonymous, with their verdicts, links and times. 0: for ever",
        _int(0),
    ),
)


def _default_journal_dir(database_url: str) -> str:
    """Next to a SQLite database file (``x.sqlite3.hits``); else ``mailbeacon-hits`` in the
    working directory."""
    if database_url.startswith("sqlite:///") and len(database_url) > len("sqlite:///"):
        return database_url.removeprefix("sqlite:///") + ".hits"
    return "mailbeacon-hits"


def load_settings(environ: Mapping[str, str], **overrides: str) -> Settings:
    """Settings from ``overrides`` (command-line flags), then the environment, then the file
    named by MAILBEACON_CONFIG, then the defaults."""
    file_values = _read_file(environ.get(CONFIG_FILE_VARIABLE))
    raw: dict[str, str | None] = {}
    for setting in SETTINGS:
        value = overrides.get(setting.name)
        if value is None:
            value = environ.get(setting.variable)
        if value is None and setting.name in file_values:
            value = str(file_values[setting.name])
        if value is None:
            value = setting.default
        if value is not None and setting.choices and value not in setting.choices:
            choices = ", ".join(setting.choices)
            raise ConfigError(
                f"{setting.variable} must be one of {choices}, got {value!r}",
                variable=setting.variable,
            )
        raw[setting.name] = value
    values: dict[str, Any] = {
        s.name: (s.parse(v, s.variable) if v is not None else None)
        for s in SETTINGS
        for v in [raw[s.name]]
    }
    if values["public_url"] is None:
        values["public_url"] = f"http://{values['host']}:{values['port']}"
    if values["smtp_host"] is None:
        values["smtp_host"] = values["host"]
    if values["max_request_bytes"] is None:
        values["max_request_bytes"] = values["max_message_bytes"] * 4 // 3 + 1024 * 1024
    if values["journal_dir"] is None:
        values["journal_dir"] = _default_journal_dir(values["database_url"])
    if values["dns_resolvers"] is None:
        values["dns_resolvers"] = ()  # the system's
    if values["tracking_cname_target"] is None and values["tracking_base_domain"] is None:
        # No per-project hosts to point at: one shared target, as the help text warns.
        values["tracking_cname_target"] = host_of(values["public_url"]) or values["host"]
    if raw["smtp_require_tls"] == "auto":
        values["smtp_require_tls"] = not _is_loopback(values["smtp_host"])
    else:
        values["smtp_require_tls"] = raw["smtp_require_tls"] == "true"
    values["upstream"] = parse_upstream(
        str(raw["upstream"]), "MAILBEACON_UPSTREAM", str(raw["upstream_tls"])
    )
    del values["upstream_tls"]
    settings = Settings(**values)
    _check(settings)
    return settings


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with Path(path).open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(
            f"{CONFIG_FILE_VARIABLE}: cannot read {path}: {exc.strerror}",
            variable=CONFIG_FILE_VARIABLE,
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{CONFIG_FILE_VARIABLE}: {path} is not valid TOML: {exc}",
            variable=CONFIG_FILE_VARIABLE,
        ) from exc
    known = {s.name for s in SETTINGS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{CONFIG_FILE_VARIABLE}: unknown settings in {path}: {unknown}",
            variable=CONFIG_FILE_VARIABLE,
        )
    return data


def _check(settings: Settings) -> None:
    if settings.signing_keys is None and not settings.development:
        raise ConfigError(
            "MAILBEACON_SIGNING_KEYS is required in production (id:secret, a secret of 32+ "
            "bytes); set MAILBEACON_ENVIRONMENT=development to have one generated",
            variable="MAILBEACON_SIGNING_KEYS",
        )
    if (settings.smtp_tls_cert is None) != (settings.smtp_tls_key is None):
        given, missing = (
            ("MAILBEACON_SMTP_TLS_CERT", "MAILBEACON_SMTP_TLS_KEY")
            if settings.smtp_tls_cert
            else ("MAILBEACON_SMTP_TLS_KEY", "MAILBEACON_SMTP_TLS_CERT")
        )
        raise ConfigError(
            f"{missing} is required with {given} (a certificate and its key)", variable=missing
        )
    keyring = settings.keyring()  # raises KeyringError naming the variable
    if keyring is not None and not settings.development:
        for entry in (settings.signing_keys or "").split(","):
            secret = entry.partition(":")[2] or entry
            if len(set(secret.strip())) < 8:
                raise ConfigError(
                    "MAILBEACON_SIGNING_KEYS holds a placeholder-like secret; generate one "
                    "with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
                    variable="MAILBEACON_SIGNING_KEYS",
                )


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) of every setting, for ``--help`` and the docs."""
    rows = []
    for setting in SETTINGS:
        default = setting.default if setting.default is not None else "(none)"
        text = setting.help
        if setting.choices:
            text += f" [{' | '.join(setting.choices)}]"
        rows.append((setting.variable, default, text))
    return rows
