"""Webhooks, the pure part: formats and event names, signatures, the retry schedule.

(What a delivery's body holds is core/webhooks/payloads.py.)

**Formats.** A webhook speaks ``lettermint`` (the default: one JSON object per delivery,
``{"id", "event", "timestamp", "data"}``) or ``lettr`` (SparkPost's array of
``{"msys": {...}}`` entries).

(Which names a subscription may use is each format's own table: core/lettermint/webhooks.py,
core/lettr/webhooks.py; core/webhooks/payloads.py normalises them.)

**Signatures.** Every delivery carries both schemes over the exact body bytes:
Lettermint's ``X-Lettermint-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` keyed
with the whole ``whsec_...`` secret (with ``X-Lettermint-Delivery`` = ``t``, as the SDK's
verifier demands), and Standard Webhooks' ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.t.body">`` keyed with the base64 secret after ``whsec_``. Both are a few lines of
``hmac``; the standardwebhooks package would be a runtime dependency for one of them, so the
tests verify with it (and with the lettermint SDK) instead.

**Retries** follow Standard Webhooks' schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
10 h, 14 h, 20 h and 24 h after each failure: ten attempts over about three days.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..retry import next_delay

__all__ = [
    "FORMATS",
    "RESPONSE_BYTES",
    "WEBHOOK_SCHEDULE",
    "Decision",
    "Reply",
    "decide",
    "delivery_headers",
    "retry_after",
]

FORMATS = ("lettermint", "lettr")
WEBHOOK_SCHEDULE = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
RESPONSE_BYTES = 1024  # of a receiver's answer, kept in the delivery log
MAX_RETRY_AFTER = timedelta(hours=24)

# --- signatures -------------------------------------------------------------------------------


def delivery_headers(
    *,
    secret: str,
    delivery_id: str,
    event: str,
    attempt: int,
    timestamp: int,
    body: bytes,
    basic_auth: tuple[str, str] | None = None,
    user_agent: str = "mailbeacon-webhooks",
) -> dict[str, str]:
    """The headers of one attempt: both signature schemes over ``body``, signed at
    ``timestamp`` (Unix seconds). ``delivery_id`` is the same on every attempt, so receivers
    can drop repeats (``webhook-id``)."""
    stamp = str(timestamp)
    lettermint = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")  # padding as verifiers do
    signed = f"{delivery_id}.{stamp}.".encode() + body
    standard = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-Lettermint-Signature": f"t={stamp},v1={lettermint.hexdigest()}",
        "X-Lettermint-Event": event,
        "X-Lettermint-Delivery": stamp,
        "X-Lettermint-Attempt": str(attempt),
        "webhook-id": delivery_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{standard}",
    }
    if basic_auth is not None:
        user, password = basic_auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


# --- outcomes and the schedule ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """How one attempt ended: an HTTP status, or a timeout, or another error."""

    status_code: int | None = None
    timed_out: bool = False
    error: str | None = None
    retry_after: timedelta | None = None  # from a 429 or 503
    location: str | None = None  # of a redirect, which is never followed


@dataclass(frozen=True, slots=True)
class Decision:
    status: str  # success, client_error, server_error, timeout, failed
    retry_in: timedelta | None  # None: no further automatic attempt
    disable: bool  # 410 Gone: the receiver asked never to be called again
    endpoint_failing: bool  # the receiver, not this one payload, is in trouble
    error: str | None


def decide(reply: Reply, attempts_made: int) -> Decision:
    """What one attempt means: 2xx is success, 410 disables the webhook, anything else is
    retried on :data:`WEBHOOK_SCHEDULE` (no sooner than a 429's or 503's Retry-After)."""
    code = reply.status_code
    if code is not None and 200 <= code < 300:
        return Decision("success", None, disable=False, endpoint_failing=False, error=None)
    if code == 410:
        gone = "410 Gone: the webhook was disabled, as the receiver asked."
        return Decision("client_error", None, disable=True, endpoint_failing=True, error=gone)
    error = reply.error
    if reply.timed_out:
        status = "timeout"
    elif code is None or code < 400:
        status = "failed"
        if code is not None and 300 <= code < 400:
            error = f"Redirects are not followed: {code} to {reply.location or '(nowhere)'}."
        elif code is not None:
            error = error or f"Unexpected HTTP status {code}."
    else:
        status = "client_error" if code < 500 else "server_error"
    delay = next_delay(WEBHOOK_SCHEDULE, attempts_made)
    if delay is not None and reply.retry_after is not None and code in (429, 503):
        delay = max(delay, min(reply.retry_after, MAX_RETRY_AFTER))
    failing = status in ("timeout", "failed", "server_error") or code == 429
    return Decision(status, delay, disable=False, endpoint_failing=failing, error=error)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header: seconds, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(timedelta(0), moment - now)
