"""Hostile input to the HTTP APIs gets a clear 4xx in the one error shape, on both databases:
never a 500, and never a half-stored message.

Each case is a request a hostile (or careless) client sent and that once answered
``500 internal_error``: line breaks and lone surrogates in header fields, NUL bytes (which
PostgreSQL's text type refuses), addresses a header cannot hold, dates past the year 9999,
a LIKE pattern too long for SQLite, a URL ``urlsplit`` cannot parse, bodies larger than the
message limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mailbeacon.app import build_services, create_app
from mailbeacon.store.schema import copies, messages
from tests.conftest import make_settings
from tests.support import databases
from tests.support.server import serve_in_thread
from tests.support.tenants import Tenant, new_tenant

HTML = '<html><body><a href="https://shop.example/p">Product</a></body></html>'


@dataclass
class Site:
    base: str
    tenant: Tenant
    services: Any

    @property
    def sending(self) -> dict[str, str]:
        return {"x-lettermint-token": self.tenant.sending_token}

    @property
    def lettr(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.sending_token}"}

    @property
    def team(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.tenant.team_token}"}

    def stored(self) -> int:
        with self.services.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(messages)).scalar_one())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """One server per database for the module: each case leaves nothing behind (that is what
    it checks), so they can share it."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([databases.fresh_sqlite(tmp_path_factory.mktemp("db"))])
    else:
        urls = databases.fresh_postgres()
    url = next(urls)
    services = build_services(
        make_settings(
            url,
            max_message_bytes=str(2 * 1024 * 1024),
            journal_dir=str(tmp_path_factory.mktemp("journal")),
        )
    )
    try:
        with serve_in_thread(create_app(services, workers={})) as base:
            yield Site(base, new_tenant(services.db, services.clock), services)
    finally:
        services.db.dispose()
        next(urls, None)  # the PostgreSQL database is dropped


@pytest.fixture
def before(site: Site) -> int:
    """Messages stored before the case ran."""
    return site.stored()


def of_message(conn: Any, answer: httpx.Response) -> list[str]:
    """The recipients of the copies of the message an answer names."""
    query = (
        select(copies.c.recipient)
        .join(messages, messages.c.id == copies.c.message_id)
        .where(messages.c.public_id == answer.json()["message_id"])
    )
    return list(conn.execute(query).scalars())


def lettermint(**extra: Any) -> dict[str, Any]:
    return {"from": "Shop <shop@shop.example>", "to": ["ann@example.org"], "subject": "Hello"} | {
        "html": HTML,
        **extra,
    }


def lettr(**extra: Any) -> dict[str, Any]:
    return {"from": "shop@shop.example", "to": ["ann@example.org"], "subject": "Hello"} | {
        "html": HTML,
        **extra,
    }


def raw(body: dict[str, Any], **replace: str) -> bytes:
    """``body`` as JSON text, then each ``"@name@"`` placeholder replaced with raw JSON text
    (a lone surrogate escape cannot go through json.dumps of a Python str unchanged)."""
    text = json.dumps(body)
    for name, value in replace.items():
        text = text.replace(f'"@{name}@"', value)
    return text.encode()


def assert_refused(answer: httpx.Response, status: int = 422, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_code"] == body["error"]["code"]
    assert body["message"] == body["error"]["message"]
    if field is not None:
        assert field in body["errors"], body


LINE_BREAKS = ["a\rb", "a\nb", "a\u2028b", "a\u0085b", "a\x0bb"]


@pytest.mark.parametrize("value", LINE_BREAKS)
def test_line_breaks_in_a_lettermint_subject_are_refused(
    site: Site, before: int, value: str
) -> None:
    answer = httpx.post(
        f"{site.base}/v1/send", json=lettermint(subject=value), headers=site.sending
    )
    assert_refused(answer, field="subject")
    assert site.stored() == before


@pytest.mark.parametrize("name", ["subject", "from_name", "reply_to_name"])
def test_line_breaks_in_lettr_header_fields_are_refused(site: Site, before: int, name: str) -> None:
    body = lettr(**{name: "Ann\u2028Bcc: x@evil.example"}, reply_to="r@shop.example")
    answer = httpx.post(f"{site.base}/api/emails", json=body, headers=site.lettr)
    assert_refused(answer, field=name)
    assert site.stored() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("subject", lettermint(subject="@bad@")),
        ("html", lettermint(html="@bad@")),
        ("text", lettermint(text="@bad@")),
        ("from", lettermint(**{"from": "@bad@"})),
        ("to.0", lettermint(to=["@bad@"])),
        ("headers.X-Note", lettermint(headers={"X-Note": "@bad@"})),
        ("metadata.order", lettermint(metadata={"order": "@bad@"})),
        (
            "attachments.0.filename",
            lettermint(attachments=[{"filename": "@bad@", "content": "aGk="}]),
        ),
    ],
)
@pytest.mark.parametrize("bad", [r'"a\ud800b"', r'"\udfff"', r'"a\u0000b"'])
def test_lone_surrogates_and_nul_are_refused_naming_the_field(
    site: Site, before: int, path: str, body: dict[str, Any], bad: str
) -> None:
    answer = httpx.post(
        f"{site.base}/v1/send",
        content=raw(body, bad=bad),
        headers={**site.sending, "content-type": "application/json"},
    )
    assert_refused(answer, field=path)
    assert site.stored() == before


def test_a_surrogate_pair_is_an_ordinary_character(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/send",
        content=raw(lettermint(subject="@ok@"), ok=r'"Sale \ud83d\ude00"'),
        headers={**site.sending, "content-type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    sent = messages.c.public_id == answer.json()["message_id"]
    with site.services.db.read() as conn:
        assert (
            conn.execute(select(messages.c.subject).where(sent)).scalar_one() == "Sale \U0001f600"
        )


@pytest.mark.parametrize("name", ["project", "webhook"])
def test_nul_in_team_api_names_is_refused(site: Site, name: str) -> None:
    if name == "project":
        answer = httpx.post(
            f"{site.base}/v1/projects", json={"name": "News\x00room"}, headers=site.team
        )
    else:
        answer = httpx.post(
            f"{site.base}/v1/webhooks",
            json={
                "name": "Hook\x00",
                "url": "https://hooks.example/x",
                "events": ["message.clicked"],
            },
            headers=site.team,
        )
    assert_refused(answer, field="name")


@pytest.mark.parametrize("field", ["filename", "content_type", "content_id"])
def test_line_breaks_in_attachment_fields_are_refused(site: Site, field: str) -> None:
    attachment = {"filename": "a.txt", "content": "aGk=", "content_type": "text/plain"}
    attachment[field] = "x\r\nContent-Type: text/html"
    answer = httpx.post(
        f"{site.base}/v1/send", json=lettermint(attachments=[attachment]), headers=site.sending
    )
    assert_refused(answer, field=f"attachments.0.{field}")


@pytest.mark.parametrize(
    "address", ["Z <zoë@example.com>", "zoë@example.com", "x" * 5000 + "@example.com"]
)
def test_addresses_a_header_cannot_carry_are_refused(site: Site, address: str) -> None:
    answer = httpx.post(f"{site.base}/v1/send", json=lettermint(to=[address]), headers=site.sending)
    assert_refused(answer, field="to.0")


def test_an_internationalised_domain_is_sent_as_its_ascii_form(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/send", json=lettermint(to=["Zoe <zoe@exämple.com>"]), headers=site.sending
    )
    assert answer.status_code == 202, answer.text
    with site.services.db.read() as conn:
        assert of_message(conn, answer)[0] == "zoe@xn--exmple-cua.com"


def test_the_same_recipient_twice_gets_one_copy(site: Site) -> None:
    body = lettermint(to=["ann@example.org", "ANN@example.org"], cc=["Ann <ann@EXAMPLE.org>"])
    answer = httpx.post(f"{site.base}/v1/send", json=body, headers=site.sending)
    assert answer.status_code == 202, answer.text
    with site.services.db.read() as conn:
        assert of_message(conn, answer) == ["ann@example.org"]


def test_a_list_where_one_sender_belongs_is_refused(site: Site) -> None:
    answer = httpx.post(
        f"{site.base}/v1/send",
        json=lettermint(**{"from": ["a@shop.example"]}),
        headers=site.sending,
    )
    assert_refused(answer, field="from")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"filter[to_date]": "9999-12-31T23:59:59-14:00"}, "filter[to_date]"),
        ({"filter[from_date]": "0001-01-01T00:00:00+14:00"}, "filter[from_date]"),
        ({"filter[search]": "%_" * 600}, "filter[search]"),
        ({"filter[search]": "a\x00b"}, "filter[search]"),
    ],
)
def test_message_list_filters_out_of_range_are_refused(
    site: Site, query: dict[str, str], field: str
) -> None:
    answer = httpx.get(f"{site.base}/v1/messages", params=query, headers=site.team)
    assert_refused(answer, field=field)


def test_a_message_id_with_nul_is_simply_not_found(site: Site) -> None:
    answer = httpx.get(f"{site.base}/v1/messages/a%00b", headers=site.team)
    assert_refused(answer, status=404)


@pytest.mark.parametrize("url", ["http://[::1/", "https://exa mple.com/", "https://\x00/"])
def test_webhook_urls_that_cannot_be_parsed_are_refused(site: Site, url: str) -> None:
    answer = httpx.post(
        f"{site.base}/v1/webhooks",
        json={"name": "H", "url": url, "events": ["message.clicked"]},
        headers=site.team,
    )
    assert_refused(answer, field="url")


def test_a_body_over_the_message_limit_is_refused_before_it_is_read(
    site: Site, before: int
) -> None:
    big = lettermint(html="<p>" + "x" * (4 * 1024 * 1024) + "</p>")
    answer = httpx.post(f"{site.base}/v1/send", json=big, headers=site.sending)
    assert_refused(answer, status=413)
    assert site.stored() == before


def test_a_declared_length_over_the_limit_is_refused_without_reading(site: Site) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"subject": "'
        for _ in range(64):
            yield b"x" * 65536

    answer = httpx.post(
        f"{site.base}/v1/send",
        content=chunks(),
        headers={**site.sending, "content-type": "application/json"},
    )
    assert_refused(answer, status=413)


def test_lettr_bodies_over_the_limit_are_refused_too(site: Site) -> None:
    big = lettr(html="<p>" + "x" * (4 * 1024 * 1024) + "</p>")
    answer = httpx.post(f"{site.base}/api/emails", json=big, headers=site.lettr)
    assert_refused(answer, status=413)


def test_a_message_over_the_limit_once_composed_is_refused(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    """Under the request limit (set high here) but over the message limit: refused as a
    message, as the relay refuses it (552), and nothing is stored."""
    env = {"max_message_bytes": str(1024 * 1024), "max_request_bytes": str(8 * 1024 * 1024)}
    with running(sqlite_url, **env) as (base, services):
        site = Site(base, new_tenant(services.db, services.clock), services)
        big = lettermint(html="<p>" + "x" * (2 * 1024 * 1024) + "</p>")
        answer = httpx.post(f"{base}/v1/send", json=big, headers=site.sending)
        assert_refused(answer, status=413)
        assert answer.json()["error_code"] == "message_too_large"
        assert site.stored() == 0
