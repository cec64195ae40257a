"""`flask keys rehash`: after a new key was put in front of HASH_KEYS (and to move rows from
before per-program keys), every participant's stored hashes are made again under the newest
key, in batches:

- `email_hash` and `alias_hash` from the decrypted address, keyed per program;
- the hub and confirmation token hashes: the row gets the newest key's, and the hash under
  the older key (still listed) moves to `retired_link_tokens`, so a link already mailed
  keeps working; a hash no listed key made is replaced (that old link stops working);
- `retired_link_tokens` of keys no longer in HASH_KEYS are deleted: their links stop.

A row whose address no data key decrypts keeps its e-mail hashes (it is still found under
the key that made them while that key is listed) and is counted as `unreadable`. Running the
command twice changes nothing the second time. Visitor hashes are not touched: they are
salted per day and no raw IP is kept, so they cannot be made again; they expire with
retention (docs/deployment.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from ..core import crypto
from ..core.key_rotation import BATCH, participant_batches
from ..core.sqlutil import insert_ignore
from ..extensions import db
from ..models import Participant, RetiredLinkToken, utcnow
from . import addresses, links


def _move_token(
    participant: Participant, purpose: str, column: str, parts: tuple[str, ...] | None
) -> bool:
    """Put the newest key's token hash in the row, keeping the old one while its key is
    listed. True if the row changed."""
    stored = getattr(participant, column)
    if not stored or parts is None:
        return False
    newest = crypto.token_hash(links.newest_token(purpose, parts))
    if stored == newest:
        return False
    old_key = links.stored_key(purpose, stored, parts)
    if old_key is not None:
        insert_ignore(
            db.session,
            RetiredLinkToken.__table__,
            {
                "token_hash": stored,
                "participant_id": participant.id,
                "purpose": purpose,
                "key_id": crypto.key_id(old_key),
                "created_at": utcnow(),
            },
        )
    setattr(participant, column, newest)
    return True


def _rehash_one(participant: Participant, summary: dict[str, int]) -> None:
    address = crypto.decrypt(participant.email_encrypted)
    if address is None:
        summary["unreadable"] += 1
    else:
        email = addresses.email_hash(participant.customer_id, address)
        alias = addresses.alias_hash(participant.customer_id, address)
        if (participant.email_hash, participant.alias_hash) != (email, alias):
            participant.email_hash, participant.alias_hash = email, alias
            summary["emails"] += 1
    hub_parts = (str(participant.id), participant.ref_code)
    summary["links"] += _move_token(participant, "hub", "hub_token_hash", hub_parts)
    expires = participant.confirm_token_expires_at
    confirm_parts = (
        (str(participant.id), expires.replace(microsecond=0).isoformat()) if expires else None
    )
    summary["links"] += _move_token(participant, "confirm", "confirm_token_hash", confirm_parts)


def rehash_all(batch: int = BATCH) -> dict[str, Any]:
    """Every participant's hashes under the newest of HASH_KEYS; a summary of what moved."""
    summary = {"participants": 0, "emails": 0, "links": 0, "unreadable": 0, "retired_dropped": 0}
    for rows in participant_batches(batch):
        for participant in rows:
            _rehash_one(participant, summary)
            summary["participants"] += 1
    listed = [crypto.key_id(key) for key in crypto.hash_keys()]
    summary["retired_dropped"] = db.session.execute(
        delete(RetiredLinkToken).where(RetiredLinkToken.key_id.not_in(listed))
    ).rowcount
    db.session.commit()
    return {"ok": summary["unreadable"] == 0, **summary}
