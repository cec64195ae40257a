"""Which website a conversion came from, and whether the program allows it (`foreign_site`).

A program's `allowed_domains` name the hosts whose pages may count conversions. Without the
check, two `<img>` pixels on any page (a click, then a conversion a few seconds later) would
farm rewards; with it, a conversion counts only from the customer's own pages.

The page is known by what the browser says, never by the request body (a page's script can
put anything there): the `Origin` header, else the `Referer`. A browser sets both itself and
no page can forge them. A server can, which is why a missing page is only forgiven for a
request carrying the customer's own API key (server to server), and why this rule is about
pages in browsers: scripted farms are the other rules' business (bots, per-IP limits).

Hosts are compared as DNS names: lower case, punycode (IDNA 2008 with UTS 46, as browsers
map them), no port, no trailing dot. `www.example.de` belongs to `example.de`;
`evil-example.de` and `example.de.evil.net` do not.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from .fraud import FOREIGN_SITE, Finding

_LOOSE_HOST = re.compile(r"[a-z0-9._-]{1,253}")
# The fixed sentences a foreign_site entry may carry in `details["rule"]`.
NO_PAGE = "no Origin or Referer"
BARE_IP = "a page on a bare IP address"


@dataclass(frozen=True)
class PageSource:
    """What a conversion request says about the page it came from (plain values, filled in by
    the web layer): the `Origin` and `Referer` headers as sent, whether the browser marked it
    same-origin (`Sec-Fetch-Site`: our own hosted pages), this server's own host names, and the
    customer whose valid API key the request carried, if any."""

    origin: str | None = None
    referer: str | None = None
    same_origin: bool = False
    own_hosts: frozenset[str] = frozenset()
    key_customer_id: int | None = None


def normalise_host(value: str) -> str | None:
    """A host name as browsers send it (punycode, lower case), or None when it is none.
    Accepts a bare host (`Bücher.de`, `www.example.de.`) or an address (`https://x.de:8443/a`)."""
    text = value.strip()
    if not text:
        return None
    if "://" in text or text.startswith("//"):
        try:
            text = urlsplit(text if "://" in text else "http:" + text).hostname or ""
        except ValueError:
            return None
    else:
        text = text.split("/", 1)[0].rsplit("@", 1)[-1]
        if not text.startswith("[") and text.count(":") == 1:
            text = text.split(":", 1)[0]
    text = text.strip("[]").rstrip(".").lower()
    if not text:
        return None
    if _is_ip(text):
        return text
    try:
        return idna.encode(text, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        # Not a name IDNA allows (`my_shop.example`): kept as sent when it is plain ASCII,
        # so the fraud log can still name it; it never equals a validated allowed domain.
        return text if _LOOSE_HOST.fullmatch(text) else None


def page_host(origin: str | None, referer: str | None) -> str | None:
    """The host of the page: the Origin's (an opaque `null` Origin says nothing), else the
    Referer's. None when neither names one."""
    for header in (origin, referer):
        if header and header.strip().lower() != "null":
            host = normalise_host(header)
            if host:
                return host
    return None


def host_allowed(host: str, domains: Iterable[str]) -> bool:
    """`host` is one of the domains or a subdomain of one (label by label, never a suffix
    match on characters: `evil-example.de` is not `example.de`'s)."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def foreign_site(
    allowed_domains: Iterable[str], customer_id: int, source: PageSource
) -> Finding | None:
    """The `foreign_site` finding for a conversion from a page outside the program's domains,
    or None when it may count. Its details name the foreign host only (no URL, no IP)."""
    domains = tuple(allowed_domains)
    if not domains:
        return None  # no list: no check (the dashboard says so)
    if source.key_customer_id is not None and source.key_customer_id == customer_id:
        return None  # the customer's own server, with its API key
    if source.same_origin:
        return None  # our own hosted pages (the browser says so; no page can forge it)
    host = page_host(source.origin, source.referer)
    if host is None:
        return Finding(FOREIGN_SITE, {"rule": NO_PAGE})
    if host in source.own_hosts or host_allowed(host, domains):
        return None
    if _is_ip(host):
        return Finding(FOREIGN_SITE, {"rule": BARE_IP})
    return Finding(FOREIGN_SITE, {"host": host})


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
