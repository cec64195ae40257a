"""Referral codes on the tracking path: which program or participant owns a code (cached per
process for TRACKING_CODE_CACHE_SECONDS, so the hot path needs no query), and the request
fields a tracking call may carry (`ref`, `page`, `click_id`), parsed into plain values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from flask_babel import gettext as _
from sqlalchemy import select

from ..core.cache import ExpiringCache, ttl_setting
from ..core.codes import looks_like_program_code
from ..core.errors import DomainError
from ..extensions import db
from ..models import (
    Customer,
    Participant,
)

REF_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PAGE_LENGTH = 500
MAX_CLICK_ID = 2**63 - 1
# (database URL, code) -> (monotonic expiry, owner): active owners only (see `resolve`).
# Per process, keyed by the database (tests run several apps on one database).
_code_cache = ExpiringCache(maxsize=100_000)


class InvalidRef(DomainError):
    status = 400
    code = "invalid_ref"


class UnknownRef(DomainError):
    status = 404
    code = "unknown_ref"


class ProgramInactive(DomainError):
    status = 403
    code = "program_inactive"


@dataclass(frozen=True)
class CodeOwner:
    """Whose referral code this is: a program's own code or one of its participants'."""

    ref_code: str
    customer_id: int
    participant_id: int | None
    active: bool
    # The program's `allowed_domains` (host names whose pages may count conversions).
    allowed_domains: tuple[str, ...] = ()


def parse_ref(value: object) -> str:
    """A referral code as sent: 1-64 of [A-Za-z0-9_-] (what referral-tracking.js sends).
    Codes are upper case; a code typed in lower case is the same code."""
    if not isinstance(value, str):
        raise InvalidRef(_("A referral code (ref) is required."))
    value = value.strip()
    if not REF_PATTERN.fullmatch(value):
        raise InvalidRef(_("This is not a valid referral code."))
    return value.upper()


def clean_page(value: object) -> str | None:
    """The page an event happened on, reduced to scheme://host/path: query strings and
    fragments may carry personal data (e-mail addresses from a form, tokens), so they are
    dropped, as are user names in the URL and paths holding an '@'. Anything else: None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parts = urlsplit(value.strip()[:2048])
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    path = parts.path if "@" not in parts.path else "/"
    return urlunsplit((parts.scheme.lower(), netloc, path or "/", "", ""))[:MAX_PAGE_LENGTH]


def parse_click_id(value: object) -> int | None:
    """The click id the tracking script carries from the freebie page: a positive integer.
    Anything else is ignored (the conversion is still tracked, as if no id came), because a
    mangled URL parameter must not cost a real conversion."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 19:
        number = int(value.strip())
    else:
        return None
    return number if 0 < number <= MAX_CLICK_ID else None


def lookup(code: str) -> CodeOwner | None:
    """The owner of an (already parsed) code, active or not; None when no one has it."""
    if looks_like_program_code(code):
        row = db.session.execute(
            select(
                Customer.id,
                Customer.ref_code,
                Customer.referral_enabled,
                Customer.suspended_at,
                Customer.allowed_domains,
            ).where(Customer.ref_code == code)
        ).first()
        if row is None:
            return None
        return CodeOwner(row[1], row[0], None, bool(row[2]) and row[3] is None, _hosts(row[4]))
    if len(code) > 16:
        return None
    row = db.session.execute(
        select(
            Participant.id,
            Participant.ref_code,
            Participant.customer_id,
            Customer.referral_enabled,
            Customer.suspended_at,
            Customer.allowed_domains,
        )
        .join(Customer, Customer.id == Participant.customer_id)
        .where(Participant.ref_code == code)
    ).first()
    if row is None:
        return None
    return CodeOwner(row[1], row[2], row[0], bool(row[3]) and row[4] is None, _hosts(row[5]))


def _hosts(value: object) -> tuple[str, ...]:
    """The stored JSON list of allowed domains (validated on save; NULL: none)."""
    if not isinstance(value, list):
        return ()
    return tuple(host for host in value if isinstance(host, str) and host)


def resolve(ref: object) -> CodeOwner:
    """The owner of a code that may be tracked now. Raises InvalidRef, UnknownRef (404) or
    ProgramInactive (403): the public API's answers for a code it cannot use.

    Active owners are kept per process for TRACKING_CODE_CACHE_SECONDS (default 5): the hot
    path then needs no query (and no extra transaction) to find a code. The price: a program
    switched off is still tracked by other app servers for up to that long."""
    code = parse_ref(ref)
    key = (db.engine.url, code)  # the URL object: rendering it as text costs more than the lookup
    cached = _code_cache.get(key)
    if cached is not None:
        return cached
    owner = lookup(code)
    if owner is not None and owner.active:
        _code_cache.set(key, owner, ttl_setting("TRACKING_CODE_CACHE_SECONDS", 5))
    if owner is None:
        raise UnknownRef(_("This referral code does not exist."))
    if not owner.active:
        raise ProgramInactive(_("This referral program is not active at the moment."))
    return owner


def forget_cached_codes() -> None:
    """Drop this process's code cache (after a program is paused or a participant erased,
    so the change holds here at once; and in tests)."""
    _code_cache.clear()


def hosted_program(code: str) -> Customer:
    """The customer whose hosted freebie pages live at /p/<code> (program codes only), also
    while the program is off or suspended: old links keep showing the freebie, and the view
    leaves out the tracking and the sign-up (`Customer.program_active`)."""
    try:
        owner = lookup(parse_ref(code))
    except InvalidRef:
        owner = None
    if owner is None or owner.participant_id is not None:
        raise UnknownRef(_("This referral program does not exist."))
    customer = db.session.get(Customer, owner.customer_id)
    assert customer is not None
    return customer


def hosted_ref(customer: Customer, ref: object) -> str:
    """The code a hosted freebie page tracks: the `?ref=` it was opened with when that is the
    program's own code or one of its participants' (as given, so no redirect), else the
    program's code — a participant of another program gains nothing from this page."""
    if isinstance(ref, str) and REF_PATTERN.fullmatch(ref):
        owner = lookup(ref.upper())
        if owner is not None and owner.customer_id == customer.id:
            return ref
    return customer.ref_code
