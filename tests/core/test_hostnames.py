"""Custom tracking domains as typed, and Host headers as sent: one normalised form."""

from __future__ import annotations

import pytest

from mailbeacon.core.errors import InvalidHostname
from mailbeacon.core.hosts.hostnames import check_custom_domain, host_of_header, normalise_domain


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("track.example.com", "track.example.com"),
        ("  Track.EXAMPLE.com.  ", "track.example.com"),
        ("Tráck.Exämple.COM", "xn--trck-6na.xn--exmple-cua.com"),
        ("xn--trck-6na.xn--exmple-cua.com", "xn--trck-6na.xn--exmple-cua.com"),
        ("ｔｒａｃｋ。example。com", "track.example.com"),  # full-width letters and dots (UTS 46)
        ("r3---sn-abc.example.com", "r3---sn-abc.example.com"),  # LDH, though not IDNA 2008
        ("a" * 63 + ".example.com", "a" * 63 + ".example.com"),
    ],
)
def test_domains_are_stored_in_one_ascii_lower_case_form(typed: str, stored: str) -> None:
    assert normalise_domain(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Give a domain name"),
        ("https://track.example.com/", "not a URL"),
        ("track.example.com/c", "not a URL"),
        ("192.0.2.10", "is an IP address"),
        ("[2001:db8::1]", "is an IP address"),
        ("*.example.com", "Wildcards are not allowed"),
        ("track.example.com:443", "without a port"),
        ("track..example.com", "empty label"),
        (".track.example.com", "empty label"),
        ("tr_ack.example.com", "not a valid host name"),
        ("-track.example.com", "is not valid"),
        ("track-.example.com", "is not valid"),
        ("a" * 64 + ".example.com", "at most 63"),
        ("ä" * 60 + ".example.com", "longer than 63 characters once encoded"),
        (".".join(["abcdefghi"] * 26), "at most 253"),
        ("xn--zz.example.com", "is not valid"),
        ("track.example.123", "last label is a number"),
    ],
)
def test_bad_names_are_refused_with_a_sentence_saying_why(typed: str, says: str) -> None:
    with pytest.raises(InvalidHostname, match=says):
        normalise_domain(typed)


def test_a_custom_domain_is_a_subdomain_and_none_of_mailbeacons_own() -> None:
    def check(name: str) -> str:
        return check_custom_domain(
            name, base_domain="t.mailbeacon.test", reserved={"mb.mailbeacon.test"}
        )

    assert check("Track.Shop.Example") == "track.shop.example"
    with pytest.raises(InvalidHostname, match="is not a subdomain"):
        check("shop.example")
    with pytest.raises(InvalidHostname, match="mailbeacon's own tracking domain"):
        check("t.mailbeacon.test")
    with pytest.raises(InvalidHostname, match="mailbeacon's own tracking domain"):
        check("pabcd1234.T.mailbeacon.test.")
    with pytest.raises(InvalidHostname, match="one of mailbeacon's own hosts"):
        check("mb.mailbeacon.test")
    assert check_custom_domain("track.shop.example", base_domain=None) == "track.shop.example"


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Track.Shop.Example", "track.shop.example"),
        ("track.shop.example:8443", "track.shop.example"),
        ("track.shop.example.", "track.shop.example"),
        ("127.0.0.1:8025", "127.0.0.1"),
        ("[::1]:8025", "[::1]"),
        ("", ""),
    ],
)
def test_host_headers_lose_their_port_case_and_final_dot(header: str, host: str) -> None:
    assert host_of_header(header) == host
