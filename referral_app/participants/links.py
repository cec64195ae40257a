"""The secret links in a participant's e-mails, and their referral link.

Only hashes of the confirmation and hub tokens are stored, yet a mail may be sent (or retried
by the sweep) long after the token was issued, and every mail must carry the same hub link.
So the tokens are derived, not drawn: HMAC-SHA256 under HASH_KEY (a secret that never lives
in the database) over the participant and the token's purpose, cut to 192 bits. Without the
key they are as unguessable as random tokens; a copy of the database alone yields none.
A new confirmation link is a new expiry time; erasing a participant removes the hashes, and
with the row gone no link of theirs matches anything again.
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote

from flask import current_app

from ..core.crypto import keyed_hash, token_hash
from ..models import Customer, Participant

TOKEN_BYTES = 24  # 192 bits, above the 128-bit minimum
CONFIRM_PATH = "/api/referral/confirm-lead"
HUB_PATH = "/hub/"
UNSUBSCRIBE_PATH = "/unsubscribe/"


def _derived(purpose: str, *parts: str) -> str:
    digest = bytes.fromhex(keyed_hash(f"{purpose}-token", *parts))[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def confirm_token(participant: Participant) -> str | None:
    """The current confirmation token; None when none was issued."""
    expires = participant.confirm_token_expires_at
    if expires is None:
        return None
    return _derived("confirm", str(participant.id), expires.replace(microsecond=0).isoformat())


def hub_token(participant: Participant) -> str:
    return _derived("hub", str(participant.id), participant.ref_code)


def unsubscribe_token(participant: Participant) -> str:
    return _derived("unsubscribe", str(participant.id), participant.ref_code)


def unsubscribe_token_matches(participant: Participant, token: str) -> bool:
    return hmac.compare_digest(unsubscribe_token(participant), token or "")


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
    participant.confirm_token_expires_at = (now + timedelta(hours=hours)).replace(microsecond=0)
    participant.confirm_token_hash = token_hash(confirm_token(participant) or "")


def confirm_token_valid_for_a_while(participant: Participant, now: datetime) -> bool:
    """True while the current link has at least an hour left: a mail sent now is useful."""
    expires = participant.confirm_token_expires_at
    return (
        participant.confirm_token_hash is not None
        and expires is not None
        and expires - now >= timedelta(hours=1)
    )
