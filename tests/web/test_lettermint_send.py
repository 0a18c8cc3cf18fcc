"""Lettermint's Sending API through the official SDK: send, batch, ping, idempotency, errors,
and a copy per recipient."""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from typing import Any

import httpx
import pytest
from lettermint import (
    AuthenticationError,
    ConflictError,
    Lettermint,
    PermissionDeniedError,
    ValidationError,
)
from sqlalchemy import select

from mailbeacon.core.intake.policy import RouteType
from mailbeacon.store import tenancy
from mailbeacon.store.schema import copies, messages
from tests.support.tenants import Tenant, new_tenant

HTML = '<html><body><a href="https://shop.example/p">Product</a></body></html>'


@pytest.fixture
def api(running: Callable[..., Any], sqlite_url: str) -> Any:
    with running(sqlite_url) as (base, services):
        tenant = new_tenant(services.db, services.clock)
        client = Lettermint(
            sending_token=tenant.sending_token, team_token=tenant.team_token, base_url=f"{base}/v1"
        )
        yield base, services, tenant, client
        client.close()


def message(**extra: Any) -> dict[str, Any]:
    return {
        "from": "Shop <shop@shop.example>",
        "to": ["ann@example.org"],
        "subject": "Hello",
        "html": HTML,
        **extra,
    }


def test_ping_with_either_token(api: Any) -> None:
    base, _, _, client = api
    assert client.emails.ping() == "pong"
    assert client.ping() == "pong"  # the team token
    assert httpx.get(f"{base}/v1/ping").status_code == 401


def test_each_recipient_gets_a_copy_of_their_own(api: Any) -> None:
    _, services, _, client = api
    sent = client.emails.send(
        message(to=["Ann <ann@example.org>"], cc=["cy@example.org"], bcc=["hidden@example.org"])
    )
    assert sent["status"] == "pending"
    with services.db.read() as conn:
        rows = conn.execute(
            select(copies.c.recipient, copies.c.recipient_kind, copies.c.raw, copies.c.id).order_by(
                copies.c.id
            )
        ).all()
    assert [(r.recipient, r.recipient_kind) for r in rows] == [
        ("ann@example.org", "to"),
        ("cy@example.org", "cc"),
        ("hidden@example.org", "bcc"),
    ]
    tokens = set()
    for row in rows:
        parsed = email.message_from_bytes(row.raw, policy=policy.default)
        assert parsed["To"] == "Ann <ann@example.org>"
        assert parsed["Cc"] == "cy@example.org"
        assert parsed["Bcc"] is None
        html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        token = html.split("/c/")[-1][:32]  # the product link (after the honeypot)
        copy_id, link_index, _ = services.codec.check(_click(), token)  # type: ignore[misc]
        assert (copy_id, link_index) == (row.id, 0)
        tokens.add(token)
    assert len(tokens) == 3


def _click() -> Any:
    from mailbeacon.core.instrumentation.tokens import Purpose

    return Purpose.CLICK


def test_idempotency_replays_and_conflicts(api: Any) -> None:
    _, services, _, client = api
    first = client.emails.send(message(), idempotency_key="order-42")
    again = client.emails.send(message(), idempotency_key="order-42")
    assert again == first
    with pytest.raises(ConflictError) as conflict:
        client.emails.send(message(subject="Other"), idempotency_key="order-42")
    assert conflict.value.code == "idempotency_key_conflict"
    with services.db.read() as conn:
        assert len(conn.execute(select(messages.c.id)).all()) == 1


def test_a_batch_is_accepted_whole(api: Any) -> None:
    _, services, _, client = api
    answers = client.emails.send_batch([message(subject=f"m{i}") for i in range(3)])
    assert [a["status"] for a in answers] == ["pending"] * 3
    assert len({a["message_id"] for a in answers}) == 3
    with pytest.raises(ValidationError) as invalid:
        client.emails.send_batch([message(), message(route="no-such-route")])
    assert invalid.value.errors == {
        "route": ["The route 'no-such-route' does not exist in this project."]
    }
    with services.db.read() as conn:
        assert len(conn.execute(select(messages.c.id)).all()) == 3  # nothing of the bad batch


def test_validation_errors_list_every_field(api: Any) -> None:
    _, _, _, client = api
    with pytest.raises(ValidationError) as invalid:
        client.emails.compose().send()
    assert set(invalid.value.errors) == {"from", "to", "subject", "html"}
    with pytest.raises(ValidationError) as bad_address:
        client.emails.send(message(to=["not an address"]))
    assert "to.0" in bad_address.value.errors


def test_routes_decide_and_inbound_routes_cannot_send(api: Any) -> None:
    _, services, tenant, client = api
    with services.db.write() as conn:
        tenancy.create_route(
            conn, tenant.project.id, "Inbox", RouteType.INBOUND, services.clock.now(), slug="inbox"
        )
        tenancy.create_route(
            conn,
            tenant.project.id,
            "Quiet",
            RouteType.TRANSACTIONAL,
            services.clock.now(),
            slug="quiet",
            track_opens=False,
            track_clicks=False,
        )
    with pytest.raises(ValidationError) as inbound:
        client.emails.send(message(route="inbox"))
    assert inbound.value.code == "route_is_inbound"
    quiet = client.emails.send(message(route="quiet"))
    overridden = client.emails.send(message(route="quiet", settings={"track_clicks": True}))
    with services.db.read() as conn:
        rows = {r.public_id: r for r in conn.execute(select(messages))}
    assert (rows[quiet["message_id"]].track_opens, rows[quiet["message_id"]].track_clicks) == (
        False,
        False,
    )
    assert (
        rows[overridden["message_id"]].track_opens,
        rows[overridden["message_id"]].track_clicks,
    ) == (False, True)


def test_tokens_are_checked(api: Any) -> None:
    base, _, tenant, _ = api
    stranger = Lettermint(sending_token="lm_nottherightone", base_url=f"{base}/v1")
    with stranger, pytest.raises(AuthenticationError):
        stranger.emails.send(message())
    wrong_kind = Lettermint(sending_token=tenant.team_token, base_url=f"{base}/v1")
    with wrong_kind, pytest.raises(PermissionDeniedError):
        wrong_kind.emails.send(message())


def test_a_tenant_is_what_its_token_says(api: Any) -> None:
    """A sending token sends for its own project only (and its route names)."""
    _, services, _, _ = api
    other: Tenant = new_tenant(services.db, services.clock, "Other")
    with services.db.write() as conn:
        tenancy.create_route(
            conn,
            other.project.id,
            "Theirs",
            RouteType.BROADCAST,
            services.clock.now(),
            slug="theirs",
        )
    with pytest.raises(ValidationError):
        api[3].emails.send(message(route="theirs"))
