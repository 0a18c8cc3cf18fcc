"""The dashboard in a real browser: Debian's chromium driven by Playwright, on a real server.

One browser for the session, one server for the module (a SQLite database, a fixed clock the
tests move, the outbound queue and the webhook dispatcher running). Every page visited is
checked the same way (:func:`check`): axe-core finds no serious or critical violation, the
console has no error, and no request leaves the server's origin. axe is evaluated through
the DevTools protocol (``page.evaluate``), not ``add_script_tag``: an inline script tag is
exactly what the dashboard's CSP refuses, and that refusal would itself be a console error.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from mailbeacon.app import build_services, build_workers, create_app
from mailbeacon.clock import FixedClock
from mailbeacon.service.context import Services
from mailbeacon.store import messages as store
from mailbeacon.store.schema import copies, messages
from mailbeacon.web.dashboard.overview import FIGURES, GROUPS, local_day, queries, split
from mailbeacon.web.dashboard.periods import period_of
from tests.conftest import make_settings
from tests.support import databases
from tests.support.receiver import Receiver, receiving
from tests.support.server import serve_in_thread
from tests.support.workers import promote
from tests.web.dashboard.support import PASSWORD, add_user
from tests.web.test_team_api import CHROME, Site, open_site, tokens

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("MAILBEACON_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Where the pages are photographed: a temporary directory, so that a test run leaves the tree
# clean; `make screenshots` points it at docs/screenshots to refresh the README's pictures.
SCREENSHOTS = Path(
    os.environ.get("MAILBEACON_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "mailbeacon-screenshots"
)
SLACK = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
PERSON_HEADERS = {"user-agent": CHROME, "accept-language": "en-GB,en;q=0.9", "accept": "text/html"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser for the module, its only user. Not the session: while Playwright's sync
    API runs it keeps an event loop on the main thread, and later tests' asyncio.run fails."""
    if not Path(CHROMIUM).exists():
        message = f"chromium is not installed at {CHROMIUM} (make browser-tools installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@dataclass
class World:
    base: str
    services: Services
    clock: FixedClock
    a: Site
    b: Site
    receiver: Receiver
    receiver_url: str
    messages: list[str] = field(default_factory=list)

    def wait_captured(self) -> None:
        """The outbound worker (running) hands every copy to the capture upstream."""
        deadline = time.monotonic() + 10
        while True:
            with self.services.db.read() as conn:
                statuses = {
                    m: store.message_for_team(conn, self.a.tenant.team.id, m) for m in self.messages
                }
            pending = [m for m, found in statuses.items() if found and found.status != "captured"]
            if not pending:
                return
            assert time.monotonic() < deadline, pending
            time.sleep(0.05)

    def promote(self) -> None:
        self.clock.advance(seconds=6)
        promote(self.services)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = databases.fresh_sqlite(tmp_path_factory.mktemp("dashboard"))
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    services = build_services(
        make_settings(url, upstream="capture", webhook_allow_private_networks="true"),
        clock=clock,
    )
    app = create_app(services, workers=build_workers(services, only=["outbound", "dispatcher"]))
    with receiving() as (receiver, receiver_url), serve_in_thread(app) as base:
        a, b = open_site(base, services, "Alpha"), open_site(base, services, "Bravo")
        add_user(a, "ann@alpha.test")
        add_user(b, "bob@bravo.test")
        with a.lm, b.lm:
            yield World(base, services, clock, a, b, receiver, receiver_url)
    services.db.dispose()


@dataclass
class Watch:
    """What a page did that it should not: console errors, requests to other origins."""

    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)


@pytest.fixture
def context(browser: Any, world: World) -> Iterator[tuple[Any, Watch]]:
    made = browser.new_context(base_url=world.base, timezone_id="Europe/Amsterdam")
    watch = Watch()

    def on_console(message: Any) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    def on_request(request: Any) -> None:
        if not request.url.startswith((world.base, "data:", "about:")):
            watch.foreign.append(request.url)

    made.on("console", on_console)
    made.on("weberror", lambda error: watch.errors.append(str(error.error)))
    made.on("request", on_request)
    yield made, watch
    made.close()
    assert watch.errors == [], watch.errors
    assert watch.foreign == [], watch.foreign


def sign_in(context: Any, email: str) -> Any:
    page = context.new_page()
    page.goto("/dashboard/")
    assert "/dashboard/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/")
    return page


def check(page: Any, name: str | None = None) -> None:
    """axe-core finds no serious or critical violation; save a screenshot as ``name``."""
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
    )
    assert found == [], f"{page.url}: {found}"
    if name:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def link_token(html: str, text: str) -> str:
    """The click token of the link whose text is ``text`` (not the hidden honeypot's)."""
    found = re.search(r'/c/([A-Za-z0-9_-]{32})"[^>]*>' + re.escape(text) + "<", html)
    assert found, html
    return found.group(1)


def send(world: World, **fields: Any) -> str:
    message = world.a.send(**fields)
    world.messages.append(message)
    return message


def test_sign_in_and_every_page_reads(context: tuple[Any, Watch], world: World) -> None:
    made, _ = context
    login = made.new_page()
    login.goto("/dashboard/login")
    check(login, "login")
    page = sign_in(made, "ann@alpha.test")
    assert page.get_by_role("heading", name="Overview").is_visible()
    for path, heading, shot in [
        ("/dashboard/messages", "Messages", "messages"),
        ("/dashboard/routes", "Routes", "routes"),
        ("/dashboard/webhooks", "Webhooks", "webhooks"),
        ("/dashboard/domains", "Tracking domains", "domains"),
        ("/dashboard/live", "Live", None),
    ]:
        page.goto(path)
        assert page.get_by_role("heading", name=heading, exact=True).is_visible()
        check(page, shot)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/dashboard/login")


def test_track_clicks_off_in_the_page_leaves_links_untouched(
    context: tuple[Any, Watch], world: World
) -> None:
    made, _ = context
    page = sign_in(made, "ann@alpha.test")
    page.goto("/dashboard/routes")
    clicks = page.get_by_label("Track clicks")
    assert clicks.is_checked()
    clicks.uncheck()
    page.get_by_role("button", name="Save outgoing").click()
    assert page.get_by_text("Saved route outgoing.").is_visible()
    assert not page.get_by_label("Track clicks").is_checked()
    untouched = send(world, subject="Untracked")
    html = world.a.lm.messages.html(untouched)
    assert 'href="https://shop.example/a"' in html
    assert tokens(html)["c"] == []
    # And on again, for the tests that follow.
    page.get_by_label("Track clicks").check()
    page.get_by_role("button", name="Save outgoing").click()
    assert page.get_by_label("Track clicks").is_checked()
    tracked = world.a.lm.messages.html(send(world, subject="Tracked"))
    assert "https://shop.example/a" not in tracked
    assert len(tokens(tracked)["c"]) == 3  # two links and the honeypot


def test_the_timeline_explains_a_slack_preview_and_a_person(
    context: tuple[Any, Watch], world: World
) -> None:
    message = send(world, subject="Spring sale", tag="spring")
    world.wait_captured()
    first = link_token(world.a.lm.messages.html(message), "First")
    world.clock.advance(minutes=3)
    httpx.get(f"{world.base}/c/{first}", headers={"user-agent": SLACK})
    world.clock.advance(minutes=2)
    httpx.get(f"{world.base}/c/{first}", headers=PERSON_HEADERS)
    world.promote()
    made, _ = context
    page = sign_in(made, "ann@alpha.test")
    page.goto("/dashboard/messages")
    page.get_by_label("Tag").fill("spring")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Spring sale").click()
    assert page.get_by_role("heading", name="Spring sale").is_visible()
    timeline = page.get_by_role("list", name="Timeline")
    preview = timeline.get_by_role("listitem").filter(has_text="a link preview")
    person = timeline.get_by_role("listitem").filter(has_text="Counted: made by a person.")
    assert preview.count() == 1
    assert person.count() == 1
    words = preview.inner_text()
    assert "Not counted: made by a link preview, because" in words
    assert "known_bot" in words
    assert SLACK in words
    assert "+180.0 s" in words  # three minutes after delivery
    assert page.get_by_text("Times in Europe/Amsterdam.").is_visible()  # the browser's zone
    links = page.get_by_role("row").filter(has_text="https://shop.example/a")
    assert re.search(r"https://shop.example/a\s+First\s+1\s+1", links.inner_text())
    frame = page.frame_locator("iframe[title='The captured copy of this email']")
    assert frame.get_by_text("Hi").is_visible()
    check(page, "message")
    page.goto("/dashboard/")
    figures = page.get_by_role("region", name="Figures")
    assert figures.is_visible()
    check(page, "overview")


def test_the_overviews_numbers_equal_post_v1_analytics(
    context: tuple[Any, Watch], world: World
) -> None:
    # Figures of its own, whichever tests ran before it in this process (pytest-xdist shares
    # a module's tests between workers): three messages, a Slack preview, a person's click.
    sent = [send(world, subject=f"Overview {n}") for n in range(3)]
    world.wait_captured()
    first = link_token(world.a.lm.messages.html(sent[0]), "First")
    world.clock.advance(minutes=3)
    httpx.get(f"{world.base}/c/{first}", headers={"user-agent": SLACK})
    world.clock.advance(minutes=2)
    httpx.get(f"{world.base}/c/{first}", headers=PERSON_HEADERS)
    world.promote()
    made, _ = context
    page = sign_in(made, "ann@alpha.test")
    page.goto("/dashboard/?period=30d")
    shown = {
        name: page.locator(f"[data-figure={name}]").get_attribute("data-value") for name in FIGURES
    }
    # The same period asked of the API with the team token, as a client would.
    period = period_of("30d", None, None, world.clock.now(), ZoneInfo("Europe/Amsterdam"))
    body = queries(world.a.tenant.project, period, only_project=True)["summary"]
    answer = httpx.post(f"{world.base}/v1/analytics", json=body, headers=world.a.team)
    assert answer.status_code == 200, answer.text
    api = answer.json()["data"]["summary"]["metrics"]
    assert shown == {name: str(api[name]) for name in FIGURES}
    assert api["accepted"] >= 3  # a real comparison
    assert api["human_clicks"] >= 1
    days = answer.json()["data"]["time_series"]
    rows = page.get_by_role("table", name="Opens and clicks per day").get_by_role("row")
    assert rows.count() == len(days) + 1  # the header and one row a day
    assert local_day(days[-1]["from"], period) == period.last_day.isoformat()
    for i, point in enumerate(days):
        cells = rows.nth(i + 1).inner_text().split()
        assert cells[0] == local_day(point["from"], period)
        wanted = split(point["metrics"], "opens") + split(point["metrics"], "clicks")
        assert [int(c) for c in cells[1:]] == wanted
    headers = rows.nth(0).inner_text().split("\t")
    assert [h.strip() for h in headers[1:]] == [
        f"{kind}: {label}" for kind in ("Opens", "Clicks") for label, _, _, _ in GROUPS
    ]
    # the Slack preview is a preview, not another bot
    clicks = [sum(split(p["metrics"], "clicks")[i] for p in days) for i in range(len(GROUPS))]
    assert clicks[3] >= 1
    previews = page.get_by_role("table", name="Machines in this period, by kind")
    assert re.search(r"a link preview\s+\d+\s+[1-9]", previews.inner_text())


def test_a_webhook_made_in_the_page_gets_a_test_delivery(
    context: tuple[Any, Watch], world: World
) -> None:
    made, _ = context
    page = sign_in(made, "ann@alpha.test")
    page.goto("/dashboard/webhooks")
    page.get_by_label("Name").fill("Receiver")
    page.get_by_label("URL").fill(f"{world.receiver_url}/hook")
    page.get_by_label("message.clicked").check()
    page.get_by_role("button", name="Create webhook").click()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Send a test").click()
    assert page.get_by_text("Test delivery queued").is_visible()
    assert world.receiver.wait_for(1)
    log = page.get_by_role("table", name="Delivery log")
    for _ in range(50):
        page.reload()
        if "success" in log.inner_text():
            break
        page.wait_for_timeout(100)
    row = log.get_by_role("row").filter(has_text="webhook.test")
    assert re.search(r"webhook\.test\s+success\s+200\s+\d+ ms\s+1", row.inner_text())
    check(page)
    # Shown once: the page does not show it again.
    page.goto(page.url.split("?")[0])
    assert page.get_by_role("textbox", name="Signing secret").count() == 0


def test_another_teams_user_gets_404_on_the_message(
    context: tuple[Any, Watch], world: World
) -> None:
    message = send(world, subject="Private")
    made, watch = context
    page = sign_in(made, "bob@bravo.test")
    answer = page.goto(f"/dashboard/messages/{message}")
    assert answer is not None
    assert answer.status == 404
    assert page.get_by_role("heading", name="404").is_visible()
    check(page)
    # Chromium logs the page's own 404 as a console error: that one is the point here.
    assert watch.errors == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    watch.errors.clear()


def test_the_live_page_shows_a_click_made_during_the_test(
    context: tuple[Any, Watch], world: World
) -> None:
    message = send(world, subject="Live one")
    world.wait_captured()
    made, _ = context
    page = sign_in(made, "ann@alpha.test")
    page.goto("/dashboard/live")
    page.get_by_text("Listening for hits.").wait_for()
    world.clock.advance(minutes=4)
    link = link_token(world.a.lm.messages.html(message), "Second")
    httpx.get(f"{world.base}/c/{link}", headers=PERSON_HEADERS)
    row = page.get_by_role("row").filter(has_text="Live one")
    row.wait_for(timeout=5000)
    assert "click" in row.inner_text()
    world.promote()
    page.get_by_role("row").filter(has_text="person (a person").wait_for(timeout=5000)
    check(page, "live")


def test_phone_width(browser: Any, world: World) -> None:
    made = browser.new_context(base_url=world.base, viewport={"width": 390, "height": 844})
    try:
        page = sign_in(made, "ann@alpha.test")
        message = send(world, subject="On a phone")
        for path in [
            "/dashboard/",
            "/dashboard/messages",
            f"/dashboard/messages/{message}",
            "/dashboard/routes",
            "/dashboard/webhooks",
            "/dashboard/domains",
            "/dashboard/live",
        ]:
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        page.goto("/dashboard/")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "overview-phone.png"), full_page=True)
    finally:
        made.close()


def test_a_person_unsubscribes_on_the_landing_page(
    context: tuple[Any, Watch], world: World
) -> None:
    """The one-click link opened in a browser: a page asking to confirm (read by axe), and
    the button, not the visit, unsubscribes."""
    made, _ = context
    world.a.lm.routes.create(
        world.a.tenant.project.public_id,
        {
            "name": "Letters",
            "route_type": "broadcast",
            "settings": {"one_click_unsubscribe": True},  # type: ignore[typeddict-unknown-key]
        },
    )
    message = send(world, route="letters", to=["reader@example.org"])
    with world.services.db.read() as conn:
        copy = conn.execute(
            select(copies.c.raw)
            .join(messages, messages.c.id == copies.c.message_id)
            .where(messages.c.public_id == message)
        ).scalar_one()
    found = re.search(rb"List-Unsubscribe: <http://t\.example\.test(/u/[A-Za-z0-9_-]{32})>", copy)
    assert found, copy[:500]
    page = made.new_page()
    page.goto(found.group(1).decode())
    check(page)
    assert page.get_by_role("heading", name="Unsubscribe").is_visible()
    assert "unsubscribed" not in [e["event"] for e in world.a.lm.messages.events(message)["data"]]
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.get_by_role("heading", name="Unsubscribed").is_visible()
    check(page)
    events = [e["event"] for e in world.a.lm.messages.events(message)["data"]]
    assert events.count("unsubscribed") == 1
