"""What counts as "one IP" wherever an address is a key (rate limits, visitor hashes, the
per-IP fraud rules).

An IPv4 address is one subscriber. An IPv6 subscriber usually gets a whole /64 (or more) and
picks a new address in it at will (privacy extensions), so keying on the full address would
give everyone an endless supply of fresh buckets: IPv6 is keyed on its network of
IPV6_PREFIX_LENGTH bits (default 64). An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a
dual-stack socket reports IPv4 clients) is the IPv4 address.
"""

from __future__ import annotations

import ipaddress

from flask import current_app

DEFAULT_IPV6_PREFIX = 64


def _prefix_length() -> int:
    try:
        value = int(current_app.config.get("IPV6_PREFIX_LENGTH", DEFAULT_IPV6_PREFIX))
    except (TypeError, ValueError):
        value = DEFAULT_IPV6_PREFIX
    return min(128, max(1, value))


def ip_key(address: str | None) -> str:
    """The address as a rate-limit and hashing key: IPv4 as is, IPv4-mapped IPv6 as IPv4,
    IPv6 as its network ("2001:db8:1:2::/64"). Anything unparsable stays as given (it is
    hashed, never stored)."""
    text = (address or "").strip()
    try:
        parsed = ipaddress.ip_address(text.split("%", 1)[0])  # no zone index (fe80::1%eth0)
    except ValueError:
        return text
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    network = ipaddress.IPv6Network((parsed, _prefix_length()), strict=False)
    return str(network)
