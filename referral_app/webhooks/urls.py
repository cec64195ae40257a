"""Which webhook URLs may be called (SSRF).

A URL is resolved and every address checked when it is saved and again right before each
send (DNS can change); private, loopback and cloud-metadata addresses are refused unless
WEBHOOK_ALLOW_PRIVATE is on (metadata addresses never).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import gettext as _

from ..core.errors import DomainError

log = logging.getLogger(__name__)


MAX_URL_LENGTH = 2000
# Cloud metadata services: refused even when WEBHOOK_ALLOW_PRIVATE is on (that flag is for
# receivers on a developer's own machine, never for credentials of the host it runs on).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data"})
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class InvalidWebhookUrl(DomainError):
    code = "invalid_webhook_url"


def address_allowed(address: str, *, allow_private: bool = False) -> bool:
    """True when a webhook may connect to `address` (an IPv4/IPv6 literal).

    Refused: private, loopback, link-local, multicast, reserved, unspecified and shared
    (CGNAT) ranges, and IPv4 hidden inside IPv6 (mapped, 6to4, Teredo, NAT64) that is one of
    those. Cloud metadata addresses are refused always."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour:
            candidates.append(ip.sixtofour)
        if ip.teredo:
            candidates.append(ip.teredo[1])
        if ip in NAT64_PREFIX:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return False
        if allow_private:
            continue
        if (
            not candidate.is_global
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
        ):
            return False
    return True


class UnsafeUrl(Exception):
    """Why a URL may not receive webhooks, as a code: `check_url` turns it into a message
    for the customer, `send` into a log entry (a job has no request to pick a language)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _messages() -> dict[str, str]:
    return {
        "too_long": _("Enter a URL of at most %(n)d characters.", n=MAX_URL_LENGTH),
        "bad_characters": _("The URL must not contain spaces or control characters."),
        "malformed": _("This is not a valid URL."),
        "scheme": _("Only http:// and https:// URLs can receive webhooks."),
        "credentials": _("The URL must not contain a user name or password."),
        "no_host": _("The URL needs a host name."),
        "unresolvable": _("The host name could not be resolved."),
        "forbidden_address": _(
            "This URL points to a private or reserved network address; webhooks are refused."
        ),
    }


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an acceptable URL; raises UnsafeUrl."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("too_long")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise UnsafeUrl("bad_characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("malformed") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("credentials")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("no_host")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, all of them checked; raises UnsafeUrl when one is
    not allowed (a name with one private address among public ones is refused)."""
    if host.lower() in METADATA_HOSTS:
        raise UnsafeUrl("forbidden_address")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl("unresolvable") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl("unresolvable")
    if not all(address_allowed(a, allow_private=allow_private) for a in addresses):
        raise UnsafeUrl("forbidden_address")
    return addresses


def check_url(url: str, *, allow_private: bool | None = None) -> str:
    """The URL, stripped, when a webhook may be sent there; raises InvalidWebhookUrl.

    Only http/https, no credentials, at most 2000 characters, and every address the host
    resolves to must be public (unless WEBHOOK_ALLOW_PRIVATE)."""
    url = (url or "").strip()
    if allow_private is None:
        allow_private = private_allowed()
    try:
        _, host, port, _path = split_url(url)
        resolve(host, port, allow_private=allow_private)
    except UnsafeUrl as exc:
        raise refused(_messages()[exc.reason]) from None
    return url


def refused(message: str) -> InvalidWebhookUrl:
    return InvalidWebhookUrl(message, fields={"url": message})


def private_allowed() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE", False))
