"""Which host a project's links use, and whose tokens a host accepts (no database)."""

from __future__ import annotations

import pytest

from mailbeacon.core.hosts.tracking_hosts import (
    SHARED,
    HostMap,
    TrackingOrigin,
    could_be_custom,
    default_host,
    origin_for,
    sid_of_default_host,
    with_host,
)
from mailbeacon.core.instrumentation.linkrules import LinkRules, SkipReason

BASE = "t.mailbeacon.test"


def test_a_default_host_names_its_project_and_nothing_else_does() -> None:
    assert default_host("Ab12cd34", BASE) == "pab12cd34.t.mailbeacon.test"
    assert sid_of_default_host("pab12cd34.t.mailbeacon.test", BASE) == "ab12cd34"
    for other in (
        "t.mailbeacon.test",  # the base itself
        "custom.t.mailbeacon.test",  # not p + sid
        "xab12cd34.t.mailbeacon.test",
        "p.t.mailbeacon.test",
        "pab.t.mailbeacon.test",  # too short to be a sid
        "a.pab12cd34.t.mailbeacon.test",  # deeper
        "pab12cd34.t.mailbeacon.test.evil.example",
        "pab12cd34xt.mailbeacon.test",  # no dot before the base
        "pab_2cd34.t.mailbeacon.test",
    ):
        assert sid_of_default_host(other, BASE) is None, other


def test_the_host_map_gives_each_host_its_audience() -> None:
    hosts = HostMap("mb.mailbeacon.test", BASE, {"track.shop.example": "ab12cd34"})
    assert hosts.audience("track.shop.example") == b"ab12cd34"
    assert hosts.audience("pzz99yy88.t.mailbeacon.test") == b"zz99yy88"  # parsed, no lookup
    assert hosts.audience("mb.mailbeacon.test") == SHARED
    assert hosts.audience("custom.t.mailbeacon.test") == SHARED  # under the base: ours
    assert hosts.audience("127.0.0.1") == SHARED
    assert hosts.audience("[::1]") == SHARED
    assert hosts.audience("localhost") == SHARED
    assert hosts.audience("shop.example") == SHARED  # too short to be a custom domain
    assert hosts.audience("other.shop.example") is None  # might be one: look again
    without_base = HostMap("mb.mailbeacon.test")
    assert without_base.audience("pzz99yy88.t.mailbeacon.test") is None


def test_could_be_custom_leaves_out_ip_addresses_and_short_names() -> None:
    assert could_be_custom("track.shop.example")
    assert not could_be_custom("10.0.0.1")
    assert not could_be_custom("shop.example")
    assert not could_be_custom("[2001:db8::1]")


def test_origins_prefer_the_custom_domain_then_the_default_host() -> None:
    public = "https://mb.mailbeacon.test:8443/mb"
    assert with_host(public, "track.shop.example") == "https://track.shop.example:8443/mb"
    assert origin_for(public, None, "ab12cd34", None) == TrackingOrigin(public, SHARED)
    assert origin_for(public, BASE, "ab12cd34", None) == TrackingOrigin(
        "https://pab12cd34.t.mailbeacon.test:8443/mb", b"ab12cd34"
    )
    assert origin_for(public, BASE, "ab12cd34", "track.shop.example") == TrackingOrigin(
        "https://track.shop.example:8443/mb", b"ab12cd34"
    )
    assert origin_for("http://mb.test", None, "ab12cd34", "track.shop.example") == (
        TrackingOrigin("http://track.shop.example", b"ab12cd34")
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://pab12cd34.t.mailbeacon.test/c/token",
        "https://custom.t.mailbeacon.test/c/token",
        "https://track.shop.example/c/token",
        "https://mb.mailbeacon.test/c/token",
    ],
)
def test_links_to_any_tracking_host_are_never_wrapped_again(url: str) -> None:
    rules = LinkRules.build(
        tracking_hosts=["mb.mailbeacon.test", "track.shop.example"], tracking_domains=[BASE]
    )
    assert rules.judge(url) == (url, SkipReason.TRACKING_HOST)
    assert rules.skip_reason(url) is SkipReason.TRACKING_HOST
    assert rules.skip_reason_reference(url) is SkipReason.TRACKING_HOST
    elsewhere = "https://shop.example/t.mailbeacon.test"
    assert rules.judge(elsewhere) == (elsewhere, None)
    assert rules.including(unsubscribe_urls=["x"]).tracking_domains == rules.tracking_domains
