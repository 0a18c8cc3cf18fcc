"""Which links are tracked, and the URL a link stands for.

A link is left exactly as written when rewriting would break it or betray the recipient:
non-web schemes (mailto, tel, sms, javascript, data, file, blob, cid, ...), same-page anchors,
relative URLs, template placeholders the sender's own system fills in later, unsubscribe links
(a scanner "clicking" them must not unsubscribe anyone, and they must work without us), links
that already point at a tracking host (or anywhere under the tracking base domain), links the
sender opted out, and excluded domains.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from .htmltext import decode_attribute

__all__ = [
    "OPT_OUT_NAME_LENGTHS",
    "LinkRules",
    "SkipReason",
    "clean_url",
    "host_of",
    "opts_out",
    "uri_of",
]


class SkipReason(enum.Enum):
    EMPTY = "empty"
    PLACEHOLDER = "placeholder"
    FRAGMENT = "fragment"
    RELATIVE = "relative"
    NOT_WEB = "not_web"  # a scheme other than http and https
    INVALID = "invalid"  # http(s) without a usable host, or no valid URI can be made of it
    UNSUBSCRIBE = "unsubscribe"
    TRACKING_HOST = "tracking_host"
    EXCLUDED_DOMAIN = "excluded_domain"
    OPTED_OUT = "opted_out"
    TOO_MANY = "too_many"  # past the last link index a token can carry


# Per-link opt-out attributes, by name: the values that mean "do not track". Lower-case.
_OPT_OUT: dict[str, frozenset[str]] = {
    "data-mailbeacon-track": frozenset({"off", "false", "0", "no"}),
    "data-msys-clicktrack": frozenset({"0", "false", "off"}),  # Lettr / SparkPost
}

OPT_OUT_NAME_LENGTHS = frozenset(len(name) for name in _OPT_OUT)

_PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{%|%\}"  # Handlebars, Jinja, Liquid, Django, Twig
    r"|\*\|[^|]*\|\*"  # Mailchimp merge tags
    r"|%%[^%]*%%"  # Salesforce Marketing Cloud, Acoustic
    r"|%7[bB]%7[bB]|%7[bB]%25",  # the same, percent-encoded by an editor
)
# A plain web URL: http(s), a host of name characters, and none of the characters templates
# use. Most links are like this; for them one match replaces the general checks.
_PLAIN_WEB = re.compile(
    r"[hH][tT][tT][pP][sS]?://([A-Za-z0-9.-]+)(?::[0-9]*)?"
    r"(?:[/?#][^{}*%]*+(?>(?:(?:%(?!%|7[bB]|25)|\*(?!\|))[^{}*%]*+)*))?\Z"
)
# The same, as written in an href: no spaces or controls to strip, and "&amp;" as the only
# character reference. judge() decodes such a value with one replace.
# Also only characters a URI may hold as they are (see _NOT_URI), so what it matches is
# already the URI to store: the general path makes one of anything else.
_PLAIN_HREF = re.compile(
    r"[hH][tT][tT][pP][sS]?://([A-Za-z0-9.-]+)(?::[0-9]*)?"
    r"(?:[/?#][^{}*%&\x00-\x20\"<>\\^`|\x7f-\U0010ffff]*+"
    r"(?>(?:(?:&amp;|%(?!%|7[bB]|25)|\*(?!\|))[^{}*%&\x00-\x20\"<>\\^`|\x7f-\U0010ffff]*+)*))?\Z"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# Authority of an http(s) URL: optional userinfo, then the host (bracketed IPv6 or a name).
_HOST = re.compile(r"[hH][tT][tT][pP][sS]?:[/\\]{2}(?:[^/\\?#@]*@)?(\[[^\]/\\?#]*\]|[^:/\\?#]*)")
# What a URI may not hold as it is (RFC 3986): controls, space, non-ASCII and a few
# delimiters. A tracked link's destination goes out in a Location header, so it must be a URI.
# Written as the complement of what may stay (one character class: several times faster
# than an alternation, and it runs for every tracked link).
_NOT_URI = re.compile(r"[^!#-;=?-\[\]_a-z~]")
_PORT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^:/?#]*):([0-9]+)")
_STRIP = "".join(map(chr, range(0x21)))  # C0 controls and space (URL Standard)
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")


def clean_url(raw: str) -> str:
    """The URL a browser follows for an attribute value as written: references decoded, leading
    and trailing controls and spaces stripped, tabs and newlines removed (URL Standard)."""
    # Most hrefs hold no reference at all, or only "&amp;" in a query string: decode those
    # with one C-level replace instead of the general decoder.
    if "&" not in raw:
        url = raw.strip(_STRIP)
    elif raw.count("&") == raw.count("&amp;"):
        url = raw.replace("&amp;", "&").strip(_STRIP)
    else:
        url = decode_attribute(raw).strip(_STRIP)
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.translate(_TAB_NEWLINE)
    return url


def host_of(url: str) -> str | None:
    """The lower-cased host of an http(s) URL, without a trailing dot; None if it has none."""
    m = _HOST.match(url)
    if m is None:
        return None
    host = m.group(1).lower().rstrip(".")
    return host or None


def uri_of(url: str) -> str | None:
    """``url`` (an http(s) URL as a browser reads it) as a valid URI, as a browser would send
    it: an internationalised host in its IDNA (punycode) form, other characters outside the
    URI syntax percent-encoded as UTF-8 (existing escapes kept). None when no URI can be made
    of it (a host IDNA refuses, a port out of range, a NUL): such a link is not tracked."""
    if _NOT_URI.search(url) is None:
        if url.count(":") > 1:  # a port, an IPv6 literal or colons later on: check the port
            given = _PORT.match(url)
            if given is not None and int(given.group(1)) > 65535:
                return None
        return url  # already one: nearly every link
    if "\x00" in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:  # an IPv6 literal
        if _NOT_URI.search(host):
            return None
        host = f"[{host}]"
    else:
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = (quote(userinfo, safe=_USERINFO_SAFE) + "@" if userinfo else "") + host
    if port is not None:
        netloc += f":{port}"
    uri = urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            quote(parts.path, safe=_PATH_SAFE),
            quote(parts.query, safe=_QUERY_SAFE),
            quote(parts.fragment, safe=_QUERY_SAFE),
        )
    )
    return uri if _NOT_URI.search(uri) is None else None


# Characters left as they are in each component: the unreserved and sub-delims of RFC 3986,
# the component's own delimiters, and "%" so that escapes already present stay single.
_USERINFO_SAFE = "!$&'()*+,;=:%-._~"
_PATH_SAFE = "!$&'()*+,;=:@/%-._~"
_QUERY_SAFE = "!$&'()*+,;=:@/?%-._~"


def opts_out(name: str, value: str) -> bool:
    """Whether this attribute of a link (lower-cased name, raw value) asks not to track it.
    Only names whose length is in :data:`OPT_OUT_NAME_LENGTHS` can."""
    values = _OPT_OUT.get(name)
    return values is not None and value.strip().lower() in values


def _normalise_domains(domains: Iterable[str]) -> frozenset[str]:
    return frozenset(d.strip().lower().rstrip(".") for d in domains if d.strip())


@dataclass(frozen=True, slots=True)
class LinkRules:
    """The sender's and the operator's exclusions, on top of the fixed skip rules."""

    excluded_domains: frozenset[str] = field(default_factory=frozenset)
    tracking_hosts: frozenset[str] = field(default_factory=frozenset)
    unsubscribe_urls: frozenset[str] = field(default_factory=frozenset)
    # Domains every host under which is a tracking host: the operator's tracking base domain,
    # whose wildcard DNS sends every p{sid}.{base} to mailbeacon.
    tracking_domains: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        *,
        excluded_domains: Iterable[str] = (),
        tracking_hosts: Iterable[str] = (),
        unsubscribe_urls: Iterable[str] = (),
        tracking_domains: Iterable[str] = (),
    ) -> LinkRules:
        return cls(
            excluded_domains=_normalise_domains(excluded_domains),
            tracking_hosts=_normalise_domains(tracking_hosts),
            unsubscribe_urls=frozenset(u.strip() for u in unsubscribe_urls if u.strip()),
            tracking_domains=_normalise_domains(tracking_domains),
        )

    def including(
        self, *, tracking_hosts: Iterable[str] = (), unsubscribe_urls: Iterable[str] = ()
    ) -> LinkRules:
        """These rules plus more tracking hosts or unsubscribe targets."""
        return LinkRules(
            excluded_domains=self.excluded_domains,
            tracking_hosts=self.tracking_hosts | _normalise_domains(tracking_hosts),
            unsubscribe_urls=self.unsubscribe_urls
            | frozenset(u.strip() for u in unsubscribe_urls if u.strip()),
            tracking_domains=self.tracking_domains,
        )

    def judge(self, raw: str) -> tuple[str, SkipReason | None]:
        """The URL an href value as written stands for, and why it must stay as written (or
        None to track it): :func:`clean_url` and :meth:`skip_reason` in one step.

        Runs once per link of every message, so the common case (a plain web URL, maybe with
        "&amp;" in its query) is written out inline; the tests check it agrees with the
        general path.
        """
        plain = _PLAIN_HREF.match(raw)
        if plain is None:
            url = clean_url(raw)
            return _as_uri(url, self.skip_reason_reference(url))
        url = raw.replace("&amp;", "&") if "&" in raw else raw  # the only reference allowed
        lowered = url.lower()
        host = lowered[plain.start(1) : plain.end(1)].rstrip(".")  # before any "&": same offsets
        if not host:
            return _as_uri(url, self.skip_reason_reference(url))
        if "unsubscribe" in lowered or url in self.unsubscribe_urls:
            return url, SkipReason.UNSUBSCRIBE
        if host in self.tracking_hosts or (
            self.tracking_domains and _within(host, self.tracking_domains)
        ):
            return url, SkipReason.TRACKING_HOST
        if self.excluded_domains and _within(host, self.excluded_domains):
            return url, SkipReason.EXCLUDED_DOMAIN
        if url.count(":") > 1:  # a port: uri_of checks its range
            return _as_uri(url, None)
        return url, None  # the pattern admits only URI characters: already one

    def skip_reason(self, url: str) -> SkipReason | None:
        """Why ``url`` (already cleaned) must stay as written, or None to track it."""
        plain = _PLAIN_WEB.match(url)
        if plain is not None:
            host = plain.group(1).lower().rstrip(".")
            if host:
                return self._destination_reason(url, host)
        return self.skip_reason_reference(url)

    def skip_reason_reference(self, url: str) -> SkipReason | None:
        """:meth:`skip_reason` without its fast path: every rule, in order (for the tests)."""
        if not url:
            return SkipReason.EMPTY
        if _PLACEHOLDER.search(url):
            return SkipReason.PLACEHOLDER
        if url[0] == "#":
            return SkipReason.FRAGMENT
        scheme = _SCHEME.match(url)
        if scheme is None:
            return SkipReason.RELATIVE
        if scheme.group(1).lower() not in ("http", "https"):
            return SkipReason.NOT_WEB
        host = host_of(url)
        if host is None:
            return SkipReason.INVALID
        return self._destination_reason(url, host)

    def _destination_reason(self, url: str, host: str) -> SkipReason | None:
        if "unsubscribe" in url.lower() or url in self.unsubscribe_urls:
            return SkipReason.UNSUBSCRIBE
        if host in self.tracking_hosts or (
            self.tracking_domains and _within(host, self.tracking_domains)
        ):
            return SkipReason.TRACKING_HOST
        if self.excluded_domains and _within(host, self.excluded_domains):
            return SkipReason.EXCLUDED_DOMAIN
        return None


def _as_uri(url: str, reason: SkipReason | None) -> tuple[str, SkipReason | None]:
    """A tracked link's destination as a URI (it is stored, then sent in Location); a link no
    URI can be made of stays as written."""
    if reason is not None:
        return url, reason
    uri = uri_of(url)
    return (url, SkipReason.INVALID) if uri is None else (uri, None)


def _within(host: str, domains: frozenset[str]) -> bool:
    if host in domains:
        return True
    dot = host.find(".")
    while dot >= 0:
        if host[dot + 1 :] in domains:
            return True
        dot = host.find(".", dot + 1)
    return False
