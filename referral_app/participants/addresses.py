"""E-mail addresses: validated, stored encrypted (Fernet, DATA_KEY) and found by a keyed
hash; a second keyed hash of the canonical form (Gmail dots, +tags) spots near-duplicates.

Both hashes are keyed per program (`crypto.customer_hash`), so the same address has other
hashes in every program. New rows get the newest of HASH_KEYS; look-ups try every key (and
the global hashes of rows from before per-program keys) until `flask keys rehash` has moved
every row to the newest key.
"""

from __future__ import annotations

from typing import Any

from disposable_email_domains import blocklist as disposable_domains
from email_validator import EmailNotValidError, validate_email

from ..core import crypto
from .program import visitor_error

MAX_EMAIL_LENGTH = 254
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}


def normalise_email(raw: Any) -> str:
    """The address as stored and hashed: validated (no DNS lookup), lower-cased, in the form
    a plain SMTP server takes (an internationalised domain as its xn-- name). A non-ASCII
    part before the @ is refused here: it would need SMTPUTF8, which many servers lack, and
    such a sign-up would wait forever for a mail that cannot be sent."""
    if not isinstance(raw, str):
        raise visitor_error("invalid_email")
    raw = raw.strip()
    if not raw or len(raw) > MAX_EMAIL_LENGTH:
        raise visitor_error("invalid_email")
    if "@" in raw and not raw.rsplit("@", 1)[0].isascii():
        raise visitor_error("invalid_email", reason="email_not_ascii")
    try:
        checked = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise visitor_error("invalid_email") from exc
    address = (checked.ascii_email or checked.normalized).lower()
    if len(address) > MAX_EMAIL_LENGTH:
        raise visitor_error("invalid_email")
    return address


def canonical_email(address: str) -> str:
    """The form near-identical addresses share: no +tag; for Gmail no dots, one domain."""
    local, _at, domain = address.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def email_hash(customer_id: int, address: str, key: str | None = None) -> str:
    """What a new row of program `customer_id` stores (under the newest hash key)."""
    return crypto.customer_hash(customer_id, "email", address, key=key)


def alias_hash(customer_id: int, address: str, key: str | None = None) -> str:
    return crypto.customer_hash(customer_id, "alias", canonical_email(address), key=key)


def email_hashes(customer_id: int, address: str) -> list[str]:
    """Every value a stored `email_hash` of this address in this program may have."""
    return crypto.customer_hashes(customer_id, "email", address)


def alias_hashes(customer_id: int, address: str) -> list[str]:
    return crypto.customer_hashes(customer_id, "alias", canonical_email(address))


def is_disposable(address: str) -> bool:
    """The domain or any parent domain is on the `disposable-email-domains` blocklist."""
    parts = address.rpartition("@")[2].split(".")
    return any(".".join(parts[i:]) in disposable_domains for i in range(len(parts) - 1))


def mailbox_hash(address: str) -> str:
    """The mailbox behind an address, the same for every program (the sign-up mail limit
    counts by it): a keyed hash of the canonical form, never the address."""
    return crypto.keyed_hash("mailbox", canonical_email(address))
