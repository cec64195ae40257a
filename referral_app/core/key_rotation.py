"""`flask keys reencrypt`: after a new key was put in front of DATA_KEYS, every encrypted
value (participants' addresses and names, webhook signing secrets) is written again under
the newest key, in batches, so the old key can then be dropped from DATA_KEYS.

Values no key of DATA_KEYS decrypts are counted and left as they are (nothing is lost by
running this with a wrong key list); the command says how many."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import select

from ..extensions import db
from ..models import Participant, WebhookEndpoint
from . import crypto

BATCH = 500


def _rotate(value: bytes | None) -> tuple[bytes | None, bool]:
    """(the value under the newest key, whether it could be read)."""
    if value is None:
        return None, True
    try:
        return crypto.reencrypt(value), True
    except InvalidToken:
        return value, False


def participant_batches(batch: int = BATCH) -> Iterator[list[Participant]]:
    """Every participant, `batch` rows at a time in id order (keyset, so rows written meanwhile
    neither repeat nor shift the pages); the caller's changes are committed after each batch."""
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(Participant)
            .where(Participant.id > last_id)
            .order_by(Participant.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield list(rows)
        last_id = rows[-1].id
        db.session.commit()


def reencrypt_all(batch: int = BATCH) -> dict[str, Any]:
    summary = {"participants": 0, "webhook_secrets": 0, "unreadable": 0}
    for rows in participant_batches(batch):
        for participant in rows:
            email, ok_email = _rotate(participant.email_encrypted)
            name, ok_name = _rotate(participant.name_encrypted)
            participant.email_encrypted, participant.name_encrypted = email, name
            summary["participants"] += 1
            summary["unreadable"] += (not ok_email) + (not ok_name)
    for endpoint in db.session.scalars(select(WebhookEndpoint)).all():
        for column in ("secret_encrypted", "previous_secret_encrypted"):
            sealed = getattr(endpoint, column)
            if not sealed:
                continue
            value, ok = _rotate(sealed.encode("ascii"))
            setattr(endpoint, column, value.decode("ascii"))
            summary["webhook_secrets"] += ok
            summary["unreadable"] += not ok
    db.session.commit()
    return {"ok": summary["unreadable"] == 0, **summary}
