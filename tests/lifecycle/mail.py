"""Mail sent and clicked through a running server, for the data lifecycle's tests."""

from __future__ import annotations

import asyncio
import email
import re
from email import policy
from typing import Any

import httpx
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.smtp.upstream import Capture
from mailbeacon.store.schema import copies, messages
from tests.support.workers import deliver

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
TOKEN_URL = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")


def html_for(recipient: str) -> str:
    """A newsletter with a personalised link, as senders make them: the address in a URL."""
    return (
        f"<html><body><p>Hello {recipient}</p>"
        f'<a href="https://shop.example/offer?email={recipient}">Your offer</a>'
        '<a href="https://shop.example/shoes">Shoes</a>'
        "</body></html>"
    )


def send(base: str, token: str, to: str, **extra: Any) -> str:
    body = {
        "from": "Shop <shop@shop.example>",
        "to": [f"Ann Example <{to}>"],
        "subject": f"News for {to}",
        "html": html_for(to),
        "text": f"Hello {to}",
        "metadata": {"customer": to},
        **extra,
    }
    answer = httpx.post(f"{base}/v1/send", json=body, headers={"x-lettermint-token": token})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["message_id"])


def capture(services: Services) -> None:
    """The outbound queue's pass: every copy captured (MAILBEACON_UPSTREAM=capture)."""
    asyncio.run(deliver(services, Capture()))


def tokens_of(services: Services, message_id: str) -> dict[str, list[str]]:
    """The /o/ and /c/ tokens of the message's first copy, in document order (the first /c/
    is the honeypot link, then the message's links)."""
    with services.db.read() as conn:
        raw = conn.execute(
            select(copies.c.raw)
            .join(messages, messages.c.id == copies.c.message_id)
            .where(messages.c.public_id == message_id)
            .order_by(copies.c.id)
            .limit(1)
        ).scalar_one()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    found: dict[str, list[str]] = {"o": [], "c": []}
    for kind, token in TOKEN_URL.findall(html):
        found[kind].append(token)
    return found


def click(base: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{base}/c/{token}",
        headers={"user-agent": CHROME, "accept-language": "en-GB", "host": "t.example.test"},
    )


def open_and_click(base: str, services: Services, message_id: str) -> None:
    """The recipient opens the message and clicks its first link, as a person would."""
    found = tokens_of(services, message_id)
    opened = httpx.get(
        f"{base}/o/{found['o'][0]}",
        headers={"user-agent": CHROME, "accept-language": "en-GB", "host": "t.example.test"},
    )
    assert opened.status_code == 200
    assert click(base, found["c"][1]).status_code == 302


def subscribe(base: str, team_token: str) -> None:
    """A webhook for every message event (its deliveries carry the recipient); run with
    MAILBEACON_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true, nothing answers at its address."""
    answer = httpx.post(
        f"{base}/v1/webhooks",
        json={
            "name": "all",
            "url": "http://127.0.0.1:9/hook",
            "events": ["message.created", "message.opened", "message.clicked"],
        },
        headers={"authorization": f"Bearer {team_token}"},
    )
    assert answer.status_code == 201, answer.text
