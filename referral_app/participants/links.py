"""The secret links in a participant's e-mails, and their referral link.

Only hashes of the confirmation and hub tokens are stored, yet a mail may be sent (or retried
by the sweep) long after the token was issued, and every mail must carry the same hub link.
So the tokens are derived, not drawn: HMAC-SHA256 under HASH_KEY (a secret that never lives
in the database) over the participant and the token's purpose, cut to 192 bits. Without the
key they are as unguessable as random tokens; a copy of the database alone yields none.
A new confirmation link is a new expiry time; erasing a participant removes the hashes, and
with the row gone no link of theirs matches anything again.

Rotation (HASH_KEYS, newest first): a mail carries the token whose hash the row stores (made
under whichever listed key made it), else the newest key's; `flask keys rehash` moves the
rows to the newest key and keeps the older keys' hashes in `retired_link_tokens`, so links
already mailed keep working while their key is listed. The unsubscribe token (not stored:
its link carries the participant id) is checked against every listed key.
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import current_app
from sqlalchemy import delete, select

from ..core.crypto import hash_keys, keyed_hash, token_hash
from ..extensions import db
from ..models import Customer, Participant, RetiredLinkToken

TOKEN_BYTES = 24  # 192 bits, above the 128-bit minimum
CONFIRM_PATH = "/api/referral/confirm-lead"
HUB_PATH = "/hub/"
UNSUBSCRIBE_PATH = "/unsubscribe/"


def _derived(purpose: str, *parts: str, key: str | None = None) -> str:
    digest = bytes.fromhex(keyed_hash(f"{purpose}-token", *parts, key=key))[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _confirm_parts(participant: Participant) -> tuple[str, ...] | None:
    expires = participant.confirm_token_expires_at
    if expires is None:
        return None
    return (str(participant.id), expires.replace(microsecond=0).isoformat())


def _hub_parts(participant: Participant) -> tuple[str, ...]:
    return (str(participant.id), participant.ref_code)


def stored_key(purpose: str, stored: str | None, parts: tuple[str, ...]) -> str | None:
    """The listed hash key whose token's hash is `stored`; None if none is."""
    if not stored:
        return None
    for key in hash_keys():
        if hmac.compare_digest(token_hash(_derived(purpose, *parts, key=key)), stored):
            return key
    return None


def _stored_or_newest(purpose: str, stored: str | None, parts: tuple[str, ...]) -> str:
    key = stored_key(purpose, stored, parts) or hash_keys()[0]
    return _derived(purpose, *parts, key=key)


def newest_token(purpose: str, parts: tuple[str, ...]) -> str:
    return _derived(purpose, *parts, key=hash_keys()[0])


def confirm_token(participant: Participant) -> str | None:
    """The current confirmation token (the one the row stores a hash of); None when none
    was issued."""
    parts = _confirm_parts(participant)
    if parts is None:
        return None
    return _stored_or_newest("confirm", participant.confirm_token_hash, parts)


def hub_token(participant: Participant) -> str:
    return _stored_or_newest("hub", participant.hub_token_hash, _hub_parts(participant))


def unsubscribe_token(participant: Participant) -> str:
    return newest_token("unsubscribe", _hub_parts(participant))


def unsubscribe_token_matches(participant: Participant, token: str) -> bool:
    """Made under any listed key? Every key is compared (constant time), none skipped."""
    presented = token if isinstance(token, str) else ""
    parts = _hub_parts(participant)
    matches = [
        hmac.compare_digest(_derived("unsubscribe", *parts, key=key), presented)
        for key in hash_keys()
    ]
    return any(matches)


def by_token(purpose: str, token: str, lock: bool = False) -> Participant | None:
    """The participant a hub or confirmation token belongs to: by the row's own hash, else
    by an older key's hash kept by `flask keys rehash`. Two indexed reads (an OR across both
    would make MariaDB scan, and lock, the whole table under FOR UPDATE)."""
    hashed = token_hash(token)
    column = Participant.hub_token_hash if purpose == "hub" else Participant.confirm_token_hash
    query = select(Participant).where(column == hashed)
    found = db.session.scalar(query.with_for_update() if lock else query)
    if found is not None:
        return found
    owner = db.session.scalar(
        select(RetiredLinkToken.participant_id).where(
            RetiredLinkToken.token_hash == hashed, RetiredLinkToken.purpose == purpose
        )
    )
    if owner is None:
        return None
    return db.session.get(Participant, owner, with_for_update=lock or None)


def forget_confirm_tokens(participant: Participant) -> None:
    """The older keys' hashes of the confirmation link go with it (caller's transaction)."""
    if participant.id is not None:
        db.session.execute(
            delete(RetiredLinkToken).where(
                RetiredLinkToken.participant_id == participant.id,
                RetiredLinkToken.purpose == "confirm",
            )
        )


def base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def confirm_url(participant: Participant) -> str:
    return f"{base_url()}{CONFIRM_PATH}?token={confirm_token(participant)}"


def hub_url(participant: Participant) -> str:
    return f"{base_url()}{HUB_PATH}{hub_token(participant)}"


def unsubscribe_url(participant: Participant) -> str:
    return f"{base_url()}{UNSUBSCRIBE_PATH}{participant.id}/{unsubscribe_token(participant)}"


def referral_link(customer: Customer, participant: Participant) -> str:
    """The participant's link to share: the program's hosted freebie page with their code.
    Always on our own host (not the customer's website), because only there the tracking
    script is known to be installed; the hosted page leads on to the customer's offer."""
    return f"{base_url()}/p/{quote(customer.ref_code)}?ref={quote(participant.ref_code)}"


def issue_confirm_token(participant: Participant, now: datetime) -> None:
    """A new confirmation link (CONFIRMATION_TOKEN_HOURS from now); the old one stops
    working. Whole seconds: MariaDB's DATETIME keeps no fractions, and the token is derived
    from this time."""
    hours = int(current_app.config.get("CONFIRMATION_TOKEN_HOURS", 48))
    forget_confirm_tokens(participant)
    participant.confirm_token_expires_at = (now + timedelta(hours=hours)).replace(microsecond=0)
    parts = _confirm_parts(participant)
    assert parts is not None
    participant.confirm_token_hash = token_hash(newest_token("confirm", parts))


def confirm_token_valid_for_a_while(participant: Participant, now: datetime) -> bool:
    """True while the current link has at least an hour left: a mail sent now is useful."""
    expires = participant.confirm_token_expires_at
    return (
        participant.confirm_token_hash is not None
        and expires is not None
        and expires - now >= timedelta(hours=1)
    )
