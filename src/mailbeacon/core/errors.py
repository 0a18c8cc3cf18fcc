"""Every exception mailbeacon raises on purpose, in one tree (as httpx's ``_exceptions.py``).

A caller catches exactly what its input can cause, and every class carries what went wrong
as attributes, not only in its message::

    MailbeaconError
    ├── ConfigError             a setting with an unusable value (.variable, when known)
    │   └── KeyringError        the signing keyring (MAILBEACON_SIGNING_KEYS)
    ├── NotMigrated             the database schema is not the one this version needs
    │                           (.current, .needed)
    ├── CommandError            a CLI command cannot do what was asked (exit status 2)
    ├── ForgedToken             a tracking token that fails verification (.reason)
    ├── InstrumentError         an email that cannot be instrumented
    │   └── MimePartError       one MIME part (.part, .content_type, .problem)
    ├── RelayedMessageError     a message the SMTP relay cannot take, 5xx (.header)
    ├── AddressRefused          a webhook connection the SSRF guard refused (.reason);
    │                           also a PermissionError: see the class
    ├── BatchInterrupted        a batch stopped at an item (.status, .code, .field, .accepted)
    └── ApiError                an HTTP answer other than success (.status, .code, .message,
        │                       .errors, .details, .headers): web/errors.py renders every one
        │                       the same way, whatever its subclass
        ├── SubmissionError     422, a send request's invalid fields (.errors)
        ├── InvalidOverride     422, a tracking override not true or false (.field, .value)
        ├── InvalidHostname     422, a name that cannot be a tracking domain
        ├── UnknownEvents       422 on "events", webhook event names (.names, .format)
        ├── UrlRefused          422 on "url", a webhook URL that may not be called (.host)
        ├── AcceptError         422, a message that cannot be accepted (.field)
        │   ├── UnknownRoute            route_not_found
        │   ├── InboundRoute            route_is_inbound
        │   ├── IdempotencyConflict     409 idempotency_key_conflict
        │   └── IdempotencyInFlight     409 idempotency_in_progress, Retry-After: 1
        ├── DomainError         422 on "domain", a name that cannot be a custom domain
        │   └── DomainClaimed   409 conflict, it is a tracking domain already
        ├── Refused             a use case (service/) turns a request down (.status, .code,
        │   │                   .errors), whoever made it: the APIs, the command line
        │   └── NotFound        404, what it names does not exist (or is another team's)
        └── DatabaseUnavailable 503 database_unavailable, Retry-After: the central database
                                cannot be reached (web/errors.py maps the driver's errors)

Why this shape:

- The subclasses of :class:`ApiError` are the client's fault: each knows its HTTP status,
  code, field errors and headers, so the JSON APIs need one handler, and no endpoint
  converts one error into another by hand. Their status and code are class attributes too,
  so other front ends read them without an instance (the SMTP relay maps an
  :class:`AcceptError`'s code to its reply).
- :class:`InvalidOverride` and :class:`InvalidHostname` are raised by the pure core and are
  usually translated by their caller (into a :class:`SubmissionError`'s field, a
  :class:`RelayedMessageError`, a :class:`ConfigError` naming the variable, a
  :class:`DomainError`); they are ApiErrors so that one reaching an endpoint untranslated
  is still a 422, not a 500.
- :class:`KeyringError` is a :class:`ConfigError`: the keyring comes from a setting, and
  ``.variable`` names it.
- :class:`RelayedMessageError` and :class:`AddressRefused` are not ApiErrors: no HTTP answer
  carries them (the relay answers SMTP, the dispatcher records a failed delivery).

An *expired* token is not an error: it is authentic, and the caller still redirects.

This module is pure: it imports the standard library only, like the rest of ``core``.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

__all__ = [
    "STATUS_CODES",
    "AcceptError",
    "AddressRefused",
    "ApiError",
    "BatchInterrupted",
    "CommandError",
    "ConfigError",
    "DatabaseUnavailable",
    "DomainClaimed",
    "DomainError",
    "ForgedToken",
    "IdempotencyConflict",
    "IdempotencyInFlight",
    "InboundRoute",
    "InstrumentError",
    "InvalidHostname",
    "InvalidOverride",
    "KeyringError",
    "MailbeaconError",
    "MimePartError",
    "NotFound",
    "NotMigrated",
    "Refused",
    "RelayedMessageError",
    "SubmissionError",
    "UnknownEvents",
    "UnknownRoute",
    "UrlRefused",
]

# The error code of an answer that names none, by HTTP status (the APIs' ``error_code``).
STATUS_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class MailbeaconError(Exception):
    """Base of every error mailbeacon raises on purpose."""


# --- configuration and operation ----------------------------------------------------------


class ConfigError(MailbeaconError):
    """A setting has an unusable value; the message names the variable to fix, and so does
    ``variable`` when the raiser knows it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class KeyringError(ConfigError):
    """The signing keyring is unusable; the message says which setting to fix."""


class NotMigrated(MailbeaconError):
    """The database schema is not the one this version needs: ``current`` is the database's
    revision (None when empty), ``needed`` this version's."""

    def __init__(
        self, message: str, *, current: str | None = None, needed: str | None = None
    ) -> None:
        super().__init__(message)
        self.current = current
        self.needed = needed


class CommandError(MailbeaconError):
    """A command cannot do what was asked: printed as "mailbeacon: <message>", exit status 2."""


# --- the pure core ----------------------------------------------------------------------------


class ForgedToken(MailbeaconError):
    """A tracking token failed verification: wrong length, alphabet, encoding, key or MAC.

    The reason is for logs only; callers answer every forged token the same way.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InstrumentError(MailbeaconError):
    """An email could not be instrumented."""


class MimePartError(InstrumentError):
    """One MIME part could not be decoded, or would not re-encode to the same bytes."""

    def __init__(self, part: str, content_type: str, problem: str) -> None:
        super().__init__(f"MIME part {part} ({content_type}): {problem}")
        self.part = part
        self.content_type = content_type
        self.problem = problem


class RelayedMessageError(MailbeaconError):
    """A submitted message the relay cannot take; ``header`` names the field at fault.

    The relay answers it with a permanent 5xx reply (smtp/relay.py)."""

    def __init__(self, message: str, *, header: str | None = None) -> None:
        super().__init__(message)
        self.header = header


class AddressRefused(MailbeaconError, PermissionError):
    """A connection the webhook guard refused; ``strerror`` says why (``reason``, an
    :class:`UrlRefused`, is the refusal itself).

    Also a ``PermissionError`` (an ``OSError``, errno EACCES): what aiohttp expects of a
    resolver or a socket factory that fails, so it reaches the dispatcher as aiohttp's
    ``ClientConnectorError`` (a failed connection), never as a crash. OSError comes second in
    the bases, yet its ``__init__`` is the one that runs (MailbeaconError has none), so
    ``errno``, ``strerror`` and ``str()`` are exactly a PermissionError's.
    """

    def __init__(self, reason: UrlRefused) -> None:
        super().__init__(errno.EACCES, str(reason))
        self.reason = reason


# --- HTTP answers ---------------------------------------------------------------------------


class ApiError(MailbeaconError):
    """An answer other than success, raised anywhere below an endpoint.

    Raised as is with any status (``ApiError(404, "No such message.")``); its subclasses
    are the client's fault, and set ``status`` and ``code`` as class attributes. ``errors``
    maps a request field to its problems (422 only); ``headers`` go into the answer.
    """

    status: int
    code: str

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or STATUS_CODES.get(status, "error")
        self.errors = dict(errors) if errors else None
        self.details = details
        self.headers = dict(headers or {})


class _FieldError(ApiError):
    """A 422 whose message is the problem of one request field (``field``, when known)."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, field: str | None) -> None:
        errors = {field: [message]} if field and self.status == 422 else None
        super().__init__(self.status, message, code=self.code, errors=errors)


class SubmissionError(ApiError):
    """A send request with invalid fields: ``errors`` maps each field to its problems."""

    status = 422
    code = "validation_error"
    errors: dict[str, list[str]]  # never None here

    def __init__(self, errors: dict[str, list[str]]) -> None:
        first_field, first = next(iter(errors.items()))
        message = first[0] if first else f"{first_field} is invalid"
        super().__init__(self.status, message, code=self.code, errors=errors)
        self.errors = errors  # the caller's mapping itself, as before


class InvalidOverride(_FieldError):
    """A tracking override that is neither true nor false (names the field and the value)."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"{field} must be true or false, got {value!r}", field)
        self.field = field
        self.value = value


class InvalidHostname(_FieldError):
    """A host name that cannot be used: the message is a sentence for the user, naming it.

    No field: the core does not know which request field (or setting) held the name."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None)


class UnknownEvents(_FieldError):
    """Event names a webhook of this format cannot subscribe to (the ``events`` field)."""

    def __init__(self, names: list[str], format: str) -> None:
        super().__init__(f"Unknown {format} webhook events: {', '.join(names)}.", "events")
        self.names = names
        self.format = format


class UrlRefused(_FieldError):
    """A webhook URL that may not be called (the ``url`` field): what is wrong, and the
    ``host`` at fault when there is one."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message, "url")
        self.host = host


class AcceptError(_FieldError):
    """A message that cannot be accepted; ``field`` names the request field at fault.

    ``errors`` is ``{field: [message]}`` on a 422 with a field, else absent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field)
        self.field = field


class UnknownRoute(AcceptError):
    code = "route_not_found"


class InboundRoute(AcceptError):
    code = "route_is_inbound"


class IdempotencyConflict(AcceptError):
    status = 409
    code = "idempotency_key_conflict"


class IdempotencyInFlight(AcceptError):
    """The first request with this key is still running: the client retries in a second."""

    status = 409
    code = "idempotency_in_progress"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.headers["Retry-After"] = "1"


class DomainError(_FieldError):
    """A name that cannot be a custom tracking domain (the ``domain`` field); ``domain`` is
    the name as given, when known. The CLI prints the message."""

    def __init__(self, message: str, *, domain: str | None = None) -> None:
        super().__init__(message, "domain")
        self.domain = domain


class DomainClaimed(DomainError):
    """The name is a tracking domain already, of this project or another."""

    status = 409
    code = "conflict"


class Refused(ApiError):
    """A request a use case turns down, whoever made it (the APIs, the command line).

    It carries what an API answer needs, so that the web layer maps it without knowing the
    rule: ``status`` (422 unless said), ``code`` (None: the API's code for the status) and
    ``errors`` (field -> messages, for a 422). The message is a sentence for the user.
    """

    status = 422  # the usual refusal; an instance may carry another
    code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 422,
        code: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(status, message, code=code, errors=errors)


class NotFound(Refused):
    """What a request names does not exist, or is another team's: the same answer, so that
    ids cannot be probed (DESIGN.md, invariant 6)."""

    status = 404
    code = "not_found"

    def __init__(self, what: str) -> None:
        super().__init__(f"No such {what}.", status=404)
        self.what = what


class DatabaseUnavailable(ApiError):
    """The central database cannot be reached (refused, dropped, timed out, locked): not the
    client's fault and not a bug, so the answer is a retryable 503 with ``Retry-After``.
    ``.retry_after`` is in seconds; ``.cause`` names the driver's complaint, for the logs."""

    status = 503
    code = "database_unavailable"

    def __init__(self, cause: str = "", *, retry_after: int = 5) -> None:
        super().__init__(
            503,
            "The database is unavailable; retry shortly.",
            code=self.code,
            headers={"Retry-After": str(retry_after)},
        )
        self.cause = cause
        self.retry_after = retry_after


class BatchInterrupted(MailbeaconError):
    """A batch stopped at an item that could not be accepted (service/sending.py).

    ``status``, ``code`` and ``field`` are the refused item's (its ``AcceptError``'s, the
    ``__cause__``); ``accepted`` holds (index, answer) of the items accepted before it, which
    stay accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        field: str | None,
        accepted: list[tuple[int, Any]],
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.accepted = accepted
