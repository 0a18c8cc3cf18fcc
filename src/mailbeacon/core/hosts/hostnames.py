"""Host names: the custom tracking domains customers type, and the Host headers clients send.

A domain is kept in one form: ASCII (IDNA A-labels after the UTS #46 mapping, so
``Tráck.Example.COM.`` and ``xn--trck-6na.example.com`` are one domain), lower case, without
the trailing dot. That is the name DNS is asked about, the name Caddy gets a certificate for
and the name a Host header carries.

Plain ASCII labels are checked as DNS host names (letters, digits, inner hyphens) rather than
by IDNA 2008, which also refuses hyphens in the third and fourth places: names such as
``r3---sn-abc.example.com`` are valid host names and in use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna

from ..errors import InvalidHostname

__all__ = [
    "MAX_LABEL",
    "MAX_NAME",
    "check_custom_domain",
    "host_of_header",
    "is_under",
    "normalise_domain",
]

MAX_LABEL = 63  # RFC 1035, octets of one label
MAX_NAME = 253  # RFC 1035's 255 octets on the wire, written out without the trailing dot
_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def normalise_domain(text: str) -> str:
    """``text`` as a domain name in its stored form; :class:`InvalidHostname` saying what is
    wrong otherwise (the sentence is shown to API and CLI users as it is)."""
    name = text.strip()
    if not name:
        raise InvalidHostname("Give a domain name, such as track.example.com.")
    if "://" in name or "/" in name or "?" in name or "@" in name:
        raise InvalidHostname(
            f"Give the host name only (such as track.example.com), not a URL: {text!r}."
        )
    if _is_ip(name):
        raise InvalidHostname(f"{name} is an IP address: a tracking domain is a host name.")
    if "*" in name:
        raise InvalidHostname(
            f"Wildcards are not allowed ({name}): give one host name, such as track.example.com."
        )
    if ":" in name:
        raise InvalidHostname(f"Give the host name without a port: {name}.")
    name = name[:-1] if name.endswith(".") else name
    try:
        mapped = idna.uts46_remap(name, std3_rules=True, transitional=False)
    except idna.IDNAError as exc:
        raise InvalidHostname(f"{name} is not a valid host name: {exc}.") from None
    labels = [_label(label, name) for label in mapped.split(".")]
    ascii_name = ".".join(labels)
    if len(ascii_name) > MAX_NAME:
        raise InvalidHostname(
            f"{ascii_name[:40]}... is {len(ascii_name)} characters long: a domain name has "
            f"at most {MAX_NAME}."
        )
    if labels[-1].isdigit():
        raise InvalidHostname(f"{ascii_name} is not a domain name: its last label is a number.")
    return ascii_name


def _label(label: str, name: str) -> str:
    if not label:
        raise InvalidHostname(f"{name} has an empty label (two dots in a row, or a leading dot).")
    if label.isascii() and not label.startswith("xn--"):
        if len(label) > MAX_LABEL:
            raise InvalidHostname(
                f"The label {label[:20]}... of {name} is {len(label)} characters long: "
                f"a label has at most {MAX_LABEL}."
            )
        if not _LDH.fullmatch(label):
            raise InvalidHostname(
                f"The label {label!r} of {name} is not valid: use letters, digits and hyphens, "
                "not at the start or the end."
            )
        return label
    try:
        encoded = idna.alabel(label).decode("ascii")
    except idna.IDNAError as exc:
        if "too long" in str(exc).lower():
            raise InvalidHostname(
                f"The label {label!r} of {name} is longer than {MAX_LABEL} characters once "
                "encoded (IDNA)."
            ) from None
        raise InvalidHostname(f"The label {label!r} of {name} is not valid: {exc}.") from None
    return encoded


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def is_under(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or one of its subdomains (both normalised)."""
    return name == domain or name.endswith("." + domain)


def check_custom_domain(text: str, *, base_domain: str | None, reserved: Iterable[str] = ()) -> str:
    """``text`` as a custom tracking domain: a normalised subdomain (three labels at least)
    that is none of mailbeacon's own hosts (``reserved``: the public host, the CNAME target)
    and is not under the operator's tracking base domain."""
    name = normalise_domain(text)
    if name.count(".") < 2:
        raise InvalidHostname(
            f"{name} is not a subdomain: use a host of your domain such as track.{name}, so "
            "that your domain's other records stay as they are."
        )
    if base_domain and is_under(name, base_domain):
        raise InvalidHostname(
            f"{name} is under {base_domain}, mailbeacon's own tracking domain: use a "
            "subdomain of your own domain."
        )
    if name in set(reserved):
        raise InvalidHostname(f"{name} is one of mailbeacon's own hosts: use a subdomain of yours.")
    return name


def host_of_header(value: str) -> str:
    """The host a Host header (or an SNI name) names: lower case, without the port and the
    trailing dot; an IPv6 literal keeps its brackets."""
    host = value.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    if ":" in host:
        host = host.rpartition(":")[0]
    return host.rstrip(".")
