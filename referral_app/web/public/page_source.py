"""What a conversion request says about the page it came from, for the tracking engine's
`foreign_site` rule (tracking/sites.py): the browser's own headers, and the customer's API
key when a server (not a page) reports the conversion.

The key travels as `Authorization: Bearer …`, as for the customer API. Browsers cannot send
it to the public API from another origin: CORS allows no `Authorization` header here, so a
key never belongs in a page. Nothing here is stored or logged.
"""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _

from ...accounts import users as accounts
from ...core.errors import DomainError
from ...tracking.sites import PageSource, normalise_host


class InvalidApiKey(DomainError):
    status = 401
    code = "unauthorized"


def page_source(*, lenient_key: bool = False) -> PageSource:
    """The request's page, for `engine.track_conversion(source=…)`. A Bearer key that is not
    a valid API key raises InvalidApiKey (401), so a server with a revoked key hears why;
    `lenient_key` (the pixel, which must answer a GIF) treats it as no key instead."""
    headers = request.headers
    return PageSource(
        origin=headers.get("Origin"),
        referer=headers.get("Referer"),
        same_origin=headers.get("Sec-Fetch-Site") == "same-origin",
        own_hosts=_own_hosts(),
        key_customer_id=_key_customer_id(lenient_key),
    )


def _own_hosts() -> frozenset[str]:
    """This server's host names: the one the request was sent to and PUBLIC_BASE_URL's.
    A browser's Origin on one of them is one of our hosted pages."""
    hosts = (
        normalise_host(request.host),
        normalise_host(current_app.config.get("PUBLIC_BASE_URL") or ""),
    )
    return frozenset(host for host in hosts if host)


def _key_customer_id(lenient: bool) -> int | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = accounts.user_for_api_key(header[len("Bearer ") :].strip())
    if user is None:
        if lenient:
            return None
        raise InvalidApiKey(_("Log in or send a valid API key."))
    # An admin's key names no program: the page check then runs as without a key.
    return user.customer_id
