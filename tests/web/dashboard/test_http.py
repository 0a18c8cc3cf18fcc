"""The dashboard over plain HTTP: sign-in, sessions, CSRF, isolation, throttling, headers.
Every test runs on SQLite and PostgreSQL (throttling and sessions live in the database)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mailbeacon.service import accounts
from mailbeacon.web.dashboard.security import CSP
from tests.web.dashboard.support import OPEN, add_user, sign_in
from tests.web.test_team_api import CHROME, Site, open_site, tokens


@pytest.fixture
def two(running: Callable[..., Any], database_url: str) -> Iterator[tuple[Site, Site]]:
    with running(database_url, webhook_allow_private_networks="true") as (base, services):
        a, b = open_site(base, services, "Alpha"), open_site(base, services, "Bravo")
        add_user(a, "ann@alpha.test")
        add_user(b, "bob@bravo.test")
        with a.lm, b.lm:
            yield a, b


def test_root_and_pages_send_a_stranger_to_sign_in(two: tuple[Site, Site]) -> None:
    a, _ = two
    assert httpx.get(f"{a.base}/").headers["location"] == "/dashboard/"
    page = httpx.get(f"{a.base}/dashboard/messages?tag=x")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login?next=/dashboard/messages%3Ftag%3Dx"
    assert httpx.post(f"{a.base}/dashboard/routes/x", data={}).status_code == 403


def test_sign_in_sets_a_secure_session_cookie_and_sign_out_ends_it(
    two: tuple[Site, Site],
) -> None:
    a, _ = two
    browser, answer = sign_in(a, "ANN@alpha.test ")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain HTTP, no trusted proxy
    overview = browser.client.get("/dashboard/")
    assert overview.status_code == 200
    assert "ann@alpha.test" in overview.text
    out = browser.post("/dashboard/logout", {}, from_page="/dashboard/")
    assert out.status_code == 303
    # The server forgot the session: the old cookie opens nothing.
    token = answer.cookies["mb_session"]
    again = httpx.get(f"{a.base}/dashboard/", cookies={"mb_session": token})
    assert again.status_code == 303


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    with running(sqlite_url, trust_forwarded_for="true") as (base, services):
        site = open_site(base, services)
        add_user(site, "ann@alpha.test")
        client = httpx.Client(base_url=base, headers={"x-forwarded-proto": "https"})
        OPEN.append(client)
        page = client.get("/dashboard/login")
        assert "Secure" in page.headers["set-cookie"]
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        answer = client.post(
            "/dashboard/login",
            data={"email": "ann@alpha.test", "password": "correct horse battery", "csrf": token},
            # the proxy speaks HTTPS to the browser, which sends its Secure cookie back
            headers={"cookie": f"mb_login_csrf={page.cookies['mb_login_csrf']}"},
        )
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]


def test_wrong_password_is_refused_with_the_form_again(two: tuple[Site, Site]) -> None:
    a, _ = two
    _, answer = sign_in(a, "ann@alpha.test", "wrong password!")
    assert answer.status_code == 401
    assert "Wrong email or password." in answer.text
    _, unknown = sign_in(a, "nobody@alpha.test")
    assert unknown.status_code == 401
    assert "mb_session" not in unknown.cookies


def test_login_without_its_csrf_cookie_is_403(two: tuple[Site, Site]) -> None:
    a, _ = two
    answer = httpx.post(
        f"{a.base}/dashboard/login",
        data={"email": "ann@alpha.test", "password": "correct horse battery", "csrf": "forged"},
    )
    assert answer.status_code == 403


def test_a_post_without_a_valid_csrf_token_is_403(two: tuple[Site, Site]) -> None:
    a, _ = two
    browser, _ = sign_in(a, "ann@alpha.test")
    with a.services.db.read() as conn:
        from mailbeacon.store import tenancy

        [route] = tenancy.list_routes(conn, a.tenant.project.id)
    path = f"/dashboard/routes/{route.public_id}"
    assert browser.client.post(path, data={"track_opens": "on"}).status_code == 403
    forged = browser.client.post(path, data={"csrf": "x" * 43, "track_opens": "on"})
    assert forged.status_code == 403
    ok = browser.post(path, {"track_opens": "on"}, from_page="/dashboard/routes")
    assert ok.status_code == 303
    with a.services.db.read() as conn:
        [saved] = tenancy.list_routes(conn, a.tenant.project.id)
    assert saved.track_opens is True
    assert saved.track_clicks is False  # an unchecked box is off


def test_another_teams_objects_answer_404(two: tuple[Site, Site]) -> None:
    a, b = two
    message = a.send(tag="alpha")
    [pixel] = tokens(a.lm.messages.html(message))["o"]
    httpx.get(f"{a.base}/o/{pixel}", headers={"user-agent": CHROME})
    a.promote()
    hook = a.lm.webhooks.create(
        {"name": "A", "url": "http://127.0.0.1:9/a", "events": ["message.clicked"]}
    )["data"]["id"]
    ann, _ = sign_in(a, "ann@alpha.test")
    bob, _ = sign_in(b, "bob@bravo.test")
    project = a.tenant.project.public_id
    pages = [
        f"/dashboard/messages/{message}",
        f"/dashboard/messages/{message}/copy",
        f"/dashboard/messages/{message}/source",
        f"/dashboard/webhooks/{hook}",
        f"/dashboard/?project={project}",
        f"/dashboard/messages?project={project}",
        f"/dashboard/routes?project={project}",
    ]
    for path in pages:
        assert ann.client.get(path).status_code == 200, path
        answer = bob.client.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.headers["content-type"]
    # Actions too: another team's webhook cannot be tested.
    test = bob.post(f"/dashboard/webhooks/{hook}/test", {}, from_page="/dashboard/webhooks")
    assert test.status_code == 404


def test_throttling_holds_per_account_and_per_address(two: tuple[Site, Site]) -> None:
    a, _ = two
    for _ in range(accounts.ACCOUNT_LIMIT):
        assert sign_in(a, "ann@alpha.test", "not the password")[1].status_code == 401
    # Past the limit even the right password is refused, with a 429.
    _, answer = sign_in(a, "ann@alpha.test")
    assert answer.status_code == 429
    assert "Too many failed sign-ins" in answer.text
    # The window moves on: the account may try again.
    a.services.clock.advance(seconds=accounts.THROTTLE_WINDOW.total_seconds() + 1)
    assert sign_in(a, "ann@alpha.test")[1].status_code == 303
    # Many accounts from one address: the address is throttled.
    for i in range(accounts.IP_LIMIT):
        sign_in(a, f"guess{i}@alpha.test", "nope nope nope")
    assert sign_in(a, "ann@alpha.test")[1].status_code == 429


def test_every_dashboard_answer_has_a_strict_csp(two: tuple[Site, Site]) -> None:
    a, _ = two
    browser, _ = sign_in(a, "ann@alpha.test")
    message = a.send()
    for path in [
        "/dashboard/login",
        "/dashboard/",
        "/dashboard/messages",
        f"/dashboard/messages/{message}",
        "/dashboard/routes",
        "/dashboard/webhooks",
        "/dashboard/domains",
        "/dashboard/live",
        "/dashboard/nowhere",
    ]:
        answer = browser.client.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert "'unsafe-inline'" not in CSP
        assert answer.headers["x-frame-options"] == "DENY"
    copy = browser.client.get(f"/dashboard/messages/{message}/copy")
    assert "sandbox" in copy.headers["content-security-policy"]
    assert "script-src" not in copy.headers["content-security-policy"]  # default-src 'none'
    assert "https://shop.example/a" not in copy.text  # the tracked copy: links rewritten
    assert "/c/" in copy.text


def test_bad_input_is_a_clear_4xx_not_a_500(two: tuple[Site, Site]) -> None:
    a, _ = two
    browser, _ = sign_in(a, "ann@alpha.test")
    assert browser.client.get("/dashboard/?from=yesterday").status_code == 422
    assert browser.client.get("/dashboard/?period=forever").status_code == 422
    assert browser.client.get("/dashboard/?from=2026-02-01&to=2026-01-01").status_code == 422
    assert browser.client.get("/dashboard/messages?from=nope").status_code == 422
    assert browser.client.get("/dashboard/messages/not-an-id").status_code == 404
    made = browser.post(
        "/dashboard/webhooks",
        {"name": "x", "url": "ftp://127.0.0.1/hook", "events": "message.sent"},
        from_page="/dashboard/webhooks",
    )
    assert made.status_code == 422
    bad = browser.post(
        "/dashboard/domains",
        {"project": a.tenant.project.public_id, "domain": "not a domain"},
        from_page="/dashboard/domains",
    )
    assert bad.status_code == 422


def test_a_long_timeline_is_paged_and_link_counts_cover_every_event(
    running: Callable[..., Any], sqlite_url: str
) -> None:
    from mailbeacon.web.dashboard.messages import TIMELINE_PAGE

    with running(sqlite_url) as (base, services):
        site = open_site(base, services)
        add_user(site, "ann@alpha.test")
        with site.lm:
            message = site.send()
            first = tokens(site.lm.messages.html(message))["c"]
            html = site.lm.messages.html(message)
            [link] = [t for t in first if f'/c/{t}">First<' in html]
            with httpx.Client() as client:
                for _ in range(TIMELINE_PAGE + 10):
                    client.get(f"{base}/c/{link}", headers={"user-agent": CHROME})
            site.promote()
        browser, _ = sign_in(site, "ann@alpha.test")
        page = browser.client.get(f"/dashboard/messages/{message}")
        assert page.status_code == 200
        assert page.text.count('<li class="entry') == TIMELINE_PAGE
        # Every click counted in the link table, not only this page's.
        total = TIMELINE_PAGE + 10
        found = re.search(
            r"https://shop.example/a</td><td>First</td><td>(\d+)</td><td>(\d+)<", page.text
        )
        assert found is not None
        assert int(found.group(1)) + int(found.group(2)) == total
        later = re.search(r'href="\?after=([^"#]+)#timeline">Later hits', page.text)
        assert later is not None
        rest = browser.client.get(f"/dashboard/messages/{message}?after={later.group(1)}")
        # no outbound worker here: message.created, then the clicks
        assert rest.text.count('<li class="entry') == total + 1 - TIMELINE_PAGE
        assert "Earlier hits" in rest.text
        assert "Later hits" not in rest.text
