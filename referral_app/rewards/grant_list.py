"""The customer's view of the grants: the approval queue in the dashboard and
`GET /api/referral/reward-grants` (keyset pages on the id, oldest first)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..core import crypto
from ..core.errors import ValidationFailed
from ..core.formats import iso
from ..extensions import db
from ..models import Participant, RewardGrant, RewardMilestone
from ..models.reward import GRANT_APPROVED, GRANT_PENDING, GRANT_STATUSES
from ..reporting.paging import decode_cursor, encode_cursor
from . import codes, grant_events


def check_status(status: str | None) -> str | None:
    if status in (None, ""):
        return None
    if status not in GRANT_STATUSES:
        message = str(_l("Choose pending, approved, delivered or revoked."))
        raise ValidationFailed(message, code="invalid_status", fields={"status": message})
    return status


def list_grants(
    customer_id: int,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    with_people: bool = False,
) -> dict[str, Any]:
    """One page of the customer's grants, optionally of one status. `with_people` adds the
    participant's address and name (decrypted) for the dashboard."""
    status = check_status(status)
    query = (
        select(RewardGrant, RewardMilestone, Participant)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .join(Participant, Participant.id == RewardGrant.participant_id)
        .where(RewardMilestone.customer_id == customer_id)
    )
    if status is not None:
        query = query.where(RewardGrant.status == status)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(RewardGrant.id > after)
    rows = db.session.execute(query.order_by(RewardGrant.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    grant_codes = codes.code_of_grants([grant.id for grant, _m, _p in rows])
    items = []
    for grant, milestone, participant in rows:
        item = {
            "id": grant.id,
            "participant_id": grant.participant_id,
            "reward_id": grant.reward_id,
            "status": grant.status,
            "reason": grant_events.reason_text(grant),
            "created_at": iso(grant.earned_at),
            "due_at": iso(grant.due_at),
            "delivered_at": iso(grant.delivered_at),
            "kind": milestone.kind,
            "tier": milestone.tier,
            "title": milestone.title,
            "manual_approval": bool(milestone.manual_approval),
        }
        if grant.id in grant_codes:
            item["code"] = grant_codes[grant.id]
        if with_people:
            item["email"] = crypto.decrypt(participant.email_encrypted)
            item["name"] = crypto.decrypt(participant.name_encrypted)
            item["ref_code"] = participant.ref_code
            item["due"] = grant.due_at
        items.append(item)
    return {"items": items, "next_cursor": encode_cursor(rows[-1][0].id) if more else None}


def open_counts(customer_id: int) -> dict[str, int]:
    """How many grants wait (pending, approved): the tabs of the approval queue."""
    rows = db.session.execute(
        select(RewardGrant.status, func.count())
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(
            RewardMilestone.customer_id == customer_id,
            RewardGrant.status.in_((GRANT_PENDING, GRANT_APPROVED)),
        )
        .group_by(RewardGrant.status)
    )
    found = {status: count for status, count in rows}
    return {status: found.get(status, 0) for status in (GRANT_PENDING, GRANT_APPROVED)}
