"""Host routing end to end: mail sent through the Sending API before and after a custom domain
is verified, clicked on a real server with the Host headers browsers would send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from mailbeacon.service.domains import DomainPolicy
from mailbeacon.store.messages import message_links
from mailbeacon.store.schema import copies, messages
from tests.domains.conftest import Site, Team

DESTINATION = "https://shop.example/sale?a=1&b=2"
BASE = "trk.example.test"


def activate(team: Team, domain: str) -> None:
    policy = DomainPolicy.from_settings(team.site.services.settings)
    team.site.zone.cname(domain, policy.target_for(team.sid))  # test_api checks the value
    assert team.verify(team.added(domain)["id"])["status"] == "active"


def redirects(site: Site, path: str, host: str) -> bool:
    answer = site.get(path, host)
    if answer.status_code == 302:
        assert answer.headers["location"] == DESTINATION
        return True
    assert answer.status_code == 404, answer.text
    return False


def test_links_move_to_the_verified_custom_domain_and_old_ones_keep_working(
    site: Callable[..., Any],
) -> None:
    with site() as world:  # no base domain: links start on the public URL
        acme, rival = world.tenant("Acme"), world.tenant("Rival")
        before = acme.click(acme.send())
        assert (before.scheme, before.host) == ("http", "t.example.test")
        activate(acme, "track.acme.test")
        activate(rival, "track.rival.test")
        sent = acme.send()
        after = acme.click(sent)
        assert (after.scheme, after.host) == ("http", "track.acme.test")
        opened = [link for link in acme.links(sent) if link.kind == "o"]
        assert [link.host for link in opened] == ["track.acme.test"]
        assert redirects(world, after.path, "track.acme.test")
        assert redirects(world, after.path, "Track.ACME.test.:80")  # as Host headers vary
        assert world.get(opened[0].path, "track.acme.test").status_code == 200
        # the same token on another project's host, or on the shared host: a forgery
        assert not redirects(world, after.path, "track.rival.test")
        assert not redirects(world, after.path, "t.example.test")
        assert not redirects(world, after.path, "127.0.0.1")
        assert world.get(opened[0].path, "track.rival.test").status_code == 404
        # a link sent before the move still works where it was sent
        assert redirects(world, before.path, "t.example.test")
        assert redirects(world, before.path, f"127.0.0.1:{world.base.rpartition(':')[2]}")
        assert not redirects(world, before.path, "track.acme.test")


def test_with_a_base_domain_each_project_has_its_own_host(site: Callable[..., Any]) -> None:
    with site(tracking_base_domain=BASE) as world:
        acme, rival = world.tenant("Acme"), world.tenant("Rival")
        default = acme.click(acme.send())
        assert default.host == f"p{acme.sid}.{BASE}"
        assert redirects(world, default.path, f"p{acme.sid}.{BASE}")
        assert not redirects(world, default.path, f"p{rival.sid}.{BASE}")
        assert not redirects(world, default.path, "t.example.test")
        activate(rival, "track.rival.test")
        assert not redirects(world, default.path, "track.rival.test")
        activate(acme, "track.acme.test")
        custom = acme.click(acme.send())
        assert custom.host == "track.acme.test"
        assert redirects(world, custom.path, "track.acme.test")
        assert redirects(world, default.path, f"p{acme.sid}.{BASE}")  # the old link
        assert not redirects(world, custom.path, f"p{rival.sid}.{BASE}")
        assert not redirects(world, custom.path, "track.rival.test")


def test_tracked_links_on_any_tracking_host_are_not_wrapped_again(
    site: Callable[..., Any],
) -> None:
    with site(tracking_base_domain=BASE) as world:
        acme, rival = world.tenant("Acme"), world.tenant("Rival")
        activate(rival, "track.rival.test")
        already = [
            f"https://p{rival.sid}.{BASE}/c/{'A' * 32}",
            f"https://track.rival.test/c/{'B' * 32}",
            f"http://t.example.test/c/{'C' * 32}",
            "https://shop.example/sale?a=1&b=2",
        ]
        html = "<html><body>" + "".join(f'<a href="{u}">x</a>' for u in already) + "</body></html>"
        sent = acme.send(html)
        with world.services.db.read() as conn:
            copy_id = conn.execute(
                select(copies.c.id)
                .join(messages, messages.c.id == copies.c.message_id)
                .where(messages.c.public_id == sent)
            ).scalar_one()
            loaded = message_links(conn, copy_id)
        assert loaded is not None
        assert loaded[1] == ["https://shop.example/sale?a=1&b=2"]  # the only link tracked
