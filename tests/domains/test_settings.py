"""The tracking domain settings: defaults that follow the other settings, and errors that
name the variable to fix."""

from __future__ import annotations

import pytest

from mailbeacon.config import Settings, describe, load_settings
from mailbeacon.core.errors import ConfigError


def settings(**env: str) -> Settings:
    values = {"MAILBEACON_ENVIRONMENT": "development"}
    values.update({f"MAILBEACON_{k.upper()}": v for k, v in env.items()})
    return load_settings(values)


def test_defaults_follow_the_base_domain_and_the_public_url() -> None:
    plain = load_settings({"MAILBEACON_ENVIRONMENT": "development"})
    assert plain.tracking_base_domain is None
    assert plain.tracking_cname_target == "127.0.0.1"  # the host of http://HOST:PORT
    assert plain.dns_resolvers == ()
    assert plain.trust_forwarded_for is False
    assert (plain.domain_verify_deadline_hours, plain.domain_recheck_seconds) == (72, 300)
    based = load_settings(
        {
            "MAILBEACON_ENVIRONMENT": "development",
            "MAILBEACON_PUBLIC_URL": "https://mail.example.com",
            "MAILBEACON_TRACKING_BASE_DOMAIN": "T.Example.COM.",
            "MAILBEACON_DNS_RESOLVERS": "192.0.2.53, 192.0.2.54:5353, [2001:db8::53]:53, ::1",
        }
    )
    assert based.tracking_base_domain == "t.example.com"
    assert based.tracking_cname_target is None  # each project's own p{sid}.t.example.com
    assert based.dns_resolvers == (
        ("192.0.2.53", 53),
        ("192.0.2.54", 5353),
        ("2001:db8::53", 53),
        ("::1", 53),
    )
    public = load_settings(
        {"MAILBEACON_ENVIRONMENT": "development", "MAILBEACON_PUBLIC_URL": "https://mb.test:8443"}
    )
    assert public.tracking_cname_target == "mb.test"


def test_with_a_base_domain_the_cname_target_is_per_project_unless_one_is_set() -> None:
    """Empty means each project's default host; a value is one target shared by all, as the
    operator chose (normalised like any domain setting)."""
    base = {"tracking_base_domain": "t.example.com", "public_url": "https://mail.example.com"}
    assert settings(**base).tracking_cname_target is None
    empty = settings(**base, tracking_cname_target="  ")
    assert empty.tracking_cname_target is None
    shared = settings(**base, tracking_cname_target="Custom.T.Example.COM.")
    assert shared.tracking_cname_target == "custom.t.example.com"
    alone = settings(public_url="https://mail.example.com", tracking_cname_target="cn.example.net")
    assert alone.tracking_cname_target == "cn.example.net"


def test_the_cname_target_help_warns_about_a_shared_target() -> None:
    (text,) = [h for variable, _, h in describe() if variable == "MAILBEACON_TRACKING_CNAME_TARGET"]
    assert "p{sid}.TRACKING_BASE_DOMAIN" in text
    assert "(recommended)" in text
    assert "lets any project claim and verify a name that already points at it" in text


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"tracking_base_domain": "*.t.example.com"}, "TRACKING_BASE_DOMAIN: give the domain"),
        ({"tracking_base_domain": "localhost"}, "TRACKING_BASE_DOMAIN must be a domain name"),
        ({"tracking_base_domain": "t_x.example.com"}, "TRACKING_BASE_DOMAIN: t_x.example.com"),
        ({"tracking_cname_target": "https://x.example.com/"}, "TRACKING_CNAME_TARGET: Give the"),
        ({"dns_resolvers": "dns.google"}, "DNS_RESOLVERS: 'dns.google' is not an IP address"),
        ({"dns_resolvers": "192.0.2.1:0"}, "DNS_RESOLVERS: '192.0.2.1:0' has an invalid port"),
        ({"dns_timeout_seconds": "0"}, "DNS_TIMEOUT_SECONDS must be more than 0"),
        ({"domain_verify_deadline_hours": "x"}, "DOMAIN_VERIFY_DEADLINE_HOURS must be a number"),
        ({"domain_recheck_seconds": "-1"}, "DOMAIN_RECHECK_SECONDS must not be negative"),
        ({"trust_forwarded_for": "maybe"}, "TRUST_FORWARDED_FOR must be true or false"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=f"MAILBEACON_{says}".replace("*", r"\*")):
        settings(**env)
