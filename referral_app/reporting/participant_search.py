"""Finding a participant by part of a name or e-mail address, without storing plain text.

Addresses and names are stored encrypted (Fernet); only the whole address has a keyed hash.
So a search runs in two steps:

1. An exact match first: the keyed hash of the whole address, or the referral code. It uses
   the index and finds a participant however old.
2. Otherwise a part search: the customer's participants are read newest first in batches,
   decrypted in memory and compared case-insensitively with the search text. One request
   decrypts at most `SCAN_LIMIT` participants; when it stops there, the answer says so and
   its cursor continues the search with the older ones.

Nothing is written: no plain text, no n-gram index, no cache of decrypted values
(docs/participants.md says why and what that costs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_

from ..core import crypto, readonly
from ..core.errors import DomainError, ValidationFailed
from ..models import Participant
from ..participants.addresses import email_hashes, normalise_email

SCAN_LIMIT = 2000
BATCH = 500
MAX_QUERY_LENGTH = 254


def clean_query(q: str | None) -> str:
    """The search text, trimmed; over-long text is refused (nothing is cut silently)."""
    text = (q or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        message = str(
            _l("The search text is too long (at most %(n)d characters).", n=MAX_QUERY_LENGTH)
        )
        raise ValidationFailed(message, code="search_too_long", fields={"q": message})
    return text


def exact_condition(q: str, customer_id: int):
    """The indexed match in one program: the whole address (as sign-up stored it, under any
    hash key) or the referral code."""
    try:
        address = normalise_email(q)
    except DomainError:
        address = q.lower()
    return or_(
        Participant.email_hash.in_(email_hashes(customer_id, address)),
        Participant.ref_code == q.upper(),
    )


def matches(participant: Participant, needle: str) -> bool:
    """The search text is part of the decrypted address or name (case-insensitive)."""
    for encrypted in (participant.email_encrypted, participant.name_encrypted):
        value = crypto.decrypt(encrypted) if encrypted else None
        if value and needle in value.casefold():
            return True
    return False


@dataclass
class ScanResult:
    found: list[Participant]
    next_after: int | None  # the cursor to continue with (None: nothing older to search)
    incomplete: bool  # stopped at SCAN_LIMIT with older participants left


def scan(
    query: Select, q: str, after: int | None, want: int, limit: int | None = None
) -> ScanResult:
    """Up to `want` participants whose address or name contains `q`, newest first, below
    the id `after`, decrypting at most `limit` (SCAN_LIMIT) of them."""
    limit = SCAN_LIMIT if limit is None else limit
    reader = readonly.session()
    needle = q.casefold()
    found: list[Participant] = []
    scanned = 0
    last_id = after
    while scanned < limit:
        statement = query
        if last_id is not None:
            statement = statement.where(Participant.id < last_id)
        size = min(BATCH, limit - scanned)
        batch = list(reader.scalars(statement.order_by(Participant.id.desc()).limit(size)))
        for participant in batch:
            scanned += 1
            last_id = participant.id
            if matches(participant, needle):
                found.append(participant)
                if len(found) == want:
                    return ScanResult(found, participant.id, False)
        if len(batch) < size:
            return ScanResult(found, None, False)
    return ScanResult(found, last_id, True)


def scan_all(query: Select, q: str) -> Iterator[Participant]:
    """Every match (the CSV export, streamed): no bound, as the export reads all anyway."""
    reader = readonly.session()
    needle = q.casefold()
    last_id: int | None = None
    while True:
        statement = query if last_id is None else query.where(Participant.id < last_id)
        batch = list(reader.scalars(statement.order_by(Participant.id.desc()).limit(BATCH)))
        if not batch:
            return
        yield from (p for p in batch if matches(p, needle))
        last_id = batch[-1].id
