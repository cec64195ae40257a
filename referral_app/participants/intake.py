"""The sign-up intake: register-lead answers before the work (issue 14 item 7).

A request that passes validation writes one row of the same shape whatever the address
(`signup_intake`: the payload encrypted, holding the normalised address, the name, page,
consent version, ref and the visitor's hashes, never the raw IP or user agent), commits and
is answered; a job (`jobs.signup.process`) then claims the row and does the sign-up
(signup.py). So the answer's time no longer depends on whether the address is known.

A row's claim is one conditional UPDATE, committed: two jobs for one row (the sweep's and
the request's) cannot both take it, and a claim whose process died is taken again after
CLAIM_TIMEOUT. The processed row is deleted with the sign-up's own commit; rows left
behind (Redis away, a process died) are swept every minute, and none outlives a day
(`purge`, daily), so nothing it held stays (DSGVO).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from ..core import crypto
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import SignupIntake
from ..tracking.visitor import Visitor

JOB = "jobs.signup.process"
# An unclaimed row this old has lost its job (Redis restarted, a process died first).
LEFT_BEHIND = timedelta(seconds=30)
# A claim this old belongs to a process that died.
CLAIM_TIMEOUT = timedelta(minutes=10)
KEEP = timedelta(days=1)


def store(customer_id: int, fields: dict[str, Any], visitor: Visitor, now: datetime) -> int:
    """Write one intake row in the caller's transaction; its id."""
    hashes = asdict(visitor)
    hashes.pop("shared_ip_hash", None)  # the cross-program value is never stored
    payload = json.dumps({**fields, "visitor": hashes}, sort_keys=True)
    row = SignupIntake(customer_id=customer_id, payload=crypto.encrypt(payload), created_at=now)
    db.session.add(row)
    db.session.flush()
    return row.id


@dataclass(frozen=True)
class Claimed:
    """A claimed row: what the request held, when it came, and the claim's time."""

    fields: dict[str, Any]
    visitor: Visitor
    requested_at: datetime
    claimed_at: datetime


def claim(intake_id: int, now: datetime) -> Claimed | None:
    """Take row `intake_id` for processing (commits the claim), or None if another job has
    it, it is done, or it cannot be read (then it is deleted)."""
    table = SignupIntake.__table__
    now = now.replace(microsecond=0)  # stored as it is compared (DATETIME has no fraction)
    begin_write(db.session())
    taken = db.session.execute(
        table.update()
        .where(
            table.c.id == intake_id,
            table.c.claimed_at.is_(None) | (table.c.claimed_at <= now - CLAIM_TIMEOUT),
        )
        .values(claimed_at=now)
    ).rowcount
    row = db.session.get(SignupIntake, intake_id) if taken else None
    db.session.commit()
    if row is None:
        return None
    text = crypto.decrypt(row.payload)
    if text is None:  # written under a key that is gone: nothing to do with it
        discard(intake_id)
        return None
    fields = json.loads(text)
    visitor = Visitor(**fields.pop("visitor"))
    return Claimed(fields, visitor, row.created_at, now)


def finish(intake_id: int, claimed_at: datetime) -> bool:
    """Delete the processed row in the caller's transaction; False if the claim was lost
    meanwhile (timed out and taken again): the caller then rolls back."""
    table = SignupIntake.__table__
    return bool(
        db.session.execute(
            table.delete().where(table.c.id == intake_id, table.c.claimed_at == claimed_at)
        ).rowcount
    )


def discard(intake_id: int) -> None:
    """Delete a row that cannot be processed (its program gone or switched off). Commits."""
    begin_write(db.session())
    db.session.execute(delete(SignupIntake).where(SignupIntake.id == intake_id))
    db.session.commit()


def left_behind(now: datetime) -> list[int]:
    """Rows whose job was lost: unclaimed for LEFT_BEHIND, or claimed by a process that died."""
    return list(
        db.session.scalars(
            select(SignupIntake.id)
            .where(
                SignupIntake.created_at <= now - LEFT_BEHIND,
                SignupIntake.claimed_at.is_(None)
                | (SignupIntake.claimed_at <= now - CLAIM_TIMEOUT),
            )
            .order_by(SignupIntake.id)
            .limit(1000)
        )
    )


def purge(now: datetime) -> int:
    """Rows older than a day go, processed or not (daily; in the caller's transaction)."""
    return db.session.execute(
        delete(SignupIntake).where(SignupIntake.created_at < now - KEEP)
    ).rowcount
