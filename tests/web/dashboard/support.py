"""A signed-in dashboard for tests: a site (tests/web/test_team_api.py) with a user."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from mailbeacon.service import accounts
from tests.web.test_team_api import Site

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OPEN: list[httpx.Client] = []  # closed after each test (tests/web/dashboard/conftest.py)


@dataclass
class Browser:
    """An httpx client with the dashboard's cookies, as a browser would keep them."""

    site: Site
    client: httpx.Client
    email: str

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        found = CSRF.search(page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict[str, object], *, from_page: str) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf(from_page), **data})


def add_user(site: Site, email: str) -> str:
    return accounts.add_user(
        site.services.db, site.tenant.team_token, email, PASSWORD, site.services.clock.now()
    )


def sign_in(site: Site, email: str, password: str = PASSWORD) -> tuple[Browser, httpx.Response]:
    client = httpx.Client(base_url=site.base, follow_redirects=False)
    OPEN.append(client)
    page = client.get("/dashboard/login")
    token = CSRF.search(page.text)
    assert token
    answer = client.post(
        "/dashboard/login",
        data={"email": email, "password": password, "csrf": token.group(1), "next": "/dashboard/"},
    )
    return Browser(site, client, email), answer
