"""The tracking endpoints, end to end: a real server, a real database, real tokens."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from email import policy
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.app import Services
from mailbeacon.clock import FixedClock
from mailbeacon.store import observations
from mailbeacon.store.schema import copies, events
from mailbeacon.web.tracking import PIXEL
from tests.support.tenants import new_tenant
from tests.support.workers import promote, ship

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HTML = (
    "<html><body><p>Hi</p>"
    '<a href="https://shop.example/a?x=1&amp;y=2">First &amp; best</a>'
    '<a href="https://shop.example/b">Second</a>'
    '<a href="mailto:help@shop.example">Mail us</a>'
    "</body></html>"
)
TOKEN_URL = re.compile(r"http://t\.example\.test/([co])/([A-Za-z0-9_-]{32})")


def send(base: str, token: str, **extra: Any) -> str:
    body = {
        "from": "Shop <shop@shop.example>",
        "to": ["ann@example.org"],
        "subject": "Hi",
        "html": HTML,
        **extra,
    }
    answer = httpx.post(f"{base}/v1/send", json=body, headers={"x-lettermint-token": token})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["message_id"])


def tracking_urls(services: Services) -> dict[str, list[str]]:
    """The /o/ and /c/ URLs of the (only) copy, in document order."""
    with services.db.read() as conn:
        raw = conn.execute(select(copies.c.raw)).scalar_one()
    return tokens_in(raw)


def tokens_in(raw: bytes) -> dict[str, list[str]]:
    """The /o/ and /c/ tokens of one copy's message, in document order."""
    message = email.message_from_bytes(raw, policy=policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    found: dict[str, list[str]] = {"o": [], "c": []}
    for kind, token in TOKEN_URL.findall(html):
        found[kind].append(token)
    return found


@pytest.fixture
def site(running: Callable[..., Any], sqlite_url: str) -> Any:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token)
        yield base, services, tracking_urls(services)


def recorded(services: Services) -> int:
    ship(services)
    with services.db.read() as conn:
        return observations.count(conn)


def test_a_click_redirects_to_the_original_and_is_recorded_first(site: Any) -> None:
    base, services, urls = site
    _honeypot, first, _second = urls["c"]  # the honeypot comes right after <body>
    answer = httpx.get(f"{base}/c/{first}", headers={"user-agent": CHROME})
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/a?x=1&y=2"
    assert "no-store" in answer.headers["cache-control"]
    assert recorded(services) == 1  # before the answer: the test read it right after


def test_the_click_becomes_an_event_with_link_index_and_anchor_text(site: Any) -> None:
    base, services, urls = site
    httpx.get(f"{base}/c/{urls['c'][2]}", headers={"user-agent": CHROME})
    clock: FixedClock = services.clock
    assert promote(services) == 0  # still in its settle window
    clock.advance(seconds=6)
    assert promote(services) == 1
    with services.db.read() as conn:
        event = conn.execute(select(events).where(events.c.type == "message.clicked")).one()
    assert event.link_index == 1
    assert event.url == "https://shop.example/b"
    assert event.anchor_text == "Second"
    assert event.recipient == "ann@example.org"
    assert event.classification == "genuine"
    assert event.first is True
    assert event.counts_for_metrics is True
    assert event.client_name == "Chrome"
    assert event.device_type == "desktop"


def test_the_open_pixel_is_a_gif_that_is_never_cached(site: Any) -> None:
    base, services, urls = site
    answer = httpx.get(f"{base}/o/{urls['o'][0]}", headers={"user-agent": CHROME})
    assert answer.status_code == 200
    assert answer.content == PIXEL
    assert answer.headers["content-type"] == "image/gif"
    assert "no-store" in answer.headers["cache-control"]
    assert recorded(services) == 1


@pytest.mark.parametrize(
    "path", ["/c/{t}x", "/c/{u}", "/o/{c}", "/c/short", "/o/", "/c/" + "A" * 32]
)
def test_forged_tokens_get_a_small_404_page_and_no_redirect(site: Any, path: str) -> None:
    base, services, urls = site
    token = urls["c"][1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answer = httpx.get(base + path.format(t=token, u=tampered, c=token))
    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert answer.headers["content-type"].startswith("text/html")
    assert len(answer.content) < 300
    assert recorded(services) == 0


def test_head_requests_answer_like_get_without_a_body(site: Any) -> None:
    base, services, urls = site
    answer = httpx.head(f"{base}/c/{urls['c'][1]}")
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/a?x=1&y=2"
    ship(services)
    with services.db.read() as conn:
        row = conn.execute(select(observations.observations)).one()  # type: ignore[attr-defined]
    assert row.method == "HEAD"


def test_a_head_request_for_the_pixel_announces_the_gif_without_sending_it(site: Any) -> None:
    base, services, urls = site
    answer = httpx.head(f"{base}/o/{urls['o'][0]}")
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["content-type"] == "image/gif"
    assert answer.headers["content-length"] == str(len(PIXEL))
    assert "no-store" in answer.headers["cache-control"]
    assert recorded(services) == 1


def test_other_methods_are_refused(site: Any) -> None:
    base, _, urls = site
    answer = httpx.post(f"{base}/c/{urls['c'][1]}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_a_user_agent_that_is_not_ascii_is_kept_as_unreadable_not_as_absent(site: Any) -> None:
    """granian gives no value for a header that is not visible ASCII: an absent user agent
    is a machine's mark, so the hit says one was sent."""
    base, services, urls = site
    raw_agent = "Mozilla/5.0 (Macintosh) Ünïcode/1.0".encode()
    answer = httpx.get(f"{base}/c/{urls['c'][1]}", headers=[(b"user-agent", raw_agent)])
    assert answer.status_code == 302
    ship(services)
    with services.db.read() as conn:
        row = conn.execute(select(observations.observations)).one()  # type: ignore[attr-defined]
    assert row.user_agent == "\ufffd"


def test_expired_links_still_redirect_but_are_not_recorded(site: Any) -> None:
    base, services, urls = site
    services.clock.advance(days=31)
    answer = httpx.get(f"{base}/c/{urls['c'][1]}")
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/a?x=1&y=2"
    pixel = httpx.get(f"{base}/o/{urls['o'][0]}")
    assert pixel.status_code == 200
    assert pixel.content == PIXEL
    assert recorded(services) == 0


def test_the_honeypot_answers_like_a_click_and_is_recorded_as_one(site: Any) -> None:
    base, services, urls = site
    answer = httpx.get(f"{base}/c/{urls['c'][0]}", headers={"user-agent": CHROME})
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example/a?x=1&y=2"
    services.clock.advance(seconds=6)
    promote(services)
    with services.db.read() as conn:
        event = conn.execute(select(events).where(events.c.type == "message.clicked")).one()
    assert event.machine is True
    assert event.counts_for_metrics is False
    assert "honeypot" in " ".join(event.details)


def test_what_is_recorded_of_a_hit(site: Any) -> None:
    base, services, urls = site
    httpx.get(
        f"{base}/c/{urls['c'][1]}",
        headers={
            "user-agent": CHROME,
            "accept-language": "fr-CH",
            "sec-purpose": "prefetch",
            "cookie": "secret=1",
        },
    )
    ship(services)
    with services.db.read() as conn:
        row = conn.execute(select(observations.observations)).one()  # type: ignore[attr-defined]
    assert row.user_agent == CHROME
    assert row.ip == "127.0.0.0"  # truncated to /24 by default
    assert '"accept-language":"fr-CH"' in row.headers
    assert '"sec-purpose":"prefetch"' in row.headers
    assert "cookie" not in row.headers


def test_any_destination_is_redirected_to_as_a_valid_uri(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    """Non-ASCII hosts and paths go out as a browser would request them (IDNA, UTF-8
    percent-encoding); a destination no URI can be made of is left untracked, not answered
    with a broken Location."""
    html = (
        '<a href="https://b\u00fccher.example/caf\u00e9?q=\u00fc m">one</a>'
        '<a href="https://shop.example:99999/x">two</a>'
    )
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        send(base, tenant.sending_token, html=html)
        urls = tracking_urls(services)
        assert len(urls["c"]) == 2  # the honeypot and the first: the second stays as written
        answer = httpx.get(f"{base}/c/{urls['c'][1]}", headers={"user-agent": CHROME})
        assert answer.status_code == 302
        assert answer.headers["location"] == (
            "https://xn--bcher-kva.example/caf%C3%A9?q=%C3%BC%20m"
        )
