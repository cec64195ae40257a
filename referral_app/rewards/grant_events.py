"""The webhook events of a grant's life: `reward.pending` (earned, on hold),
`reward.delivered` (released to the participant) and `reward.revoked` (taken back, with
the reason). Called after the commit of the change they report."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..core.formats import iso
from ..extensions import db
from ..models import Participant, RewardGrant, RewardMilestone
from ..models.reward import CASH, CLAWBACK
from ..webhooks import events

CLAWBACK_REASON = _l(
    "A referral behind this reward no longer counts: it was found suspicious or cancelled."
)


def reason_text(grant: RewardGrant) -> str | None:
    """Why a grant was revoked, in words: the customer's own reason, or the clawback's."""
    if grant.reason:
        return grant.reason
    if grant.reason_code == CLAWBACK:
        return str(CLAWBACK_REASON)
    return None


def _rows(grant_ids: list[int]) -> list[tuple[RewardGrant, RewardMilestone, Any]]:
    if not grant_ids:
        return []
    return list(
        db.session.execute(
            select(RewardGrant, RewardMilestone, Participant.customer_id, Participant.ref_code)
            .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
            .join(Participant, Participant.id == RewardGrant.participant_id)
            .where(RewardGrant.id.in_(grant_ids))
            .order_by(RewardGrant.id)
        )
    )


def _base(grant: RewardGrant, milestone: RewardMilestone) -> dict[str, Any]:
    data = {
        "grant_id": grant.id,
        "participant_id": grant.participant_id,
        "reward_id": milestone.id,
        "kind": milestone.kind,
        "tier": milestone.tier,
        "title": milestone.title,
        "threshold": milestone.threshold,
    }
    if milestone.kind == CASH:
        data["amount_cents"] = milestone.amount_cents
        data["currency"] = "EUR"
    return data


def emit_pending(grant_ids: list[int]) -> None:
    for grant, milestone, customer_id, ref_code in _rows(grant_ids):
        data = {
            **_base(grant, milestone),
            "due_at": iso(grant.due_at),
            "manual_approval": bool(milestone.manual_approval),
        }
        events.emit(customer_id, "reward.pending", data, ref_code)


def emit_delivered(grant_ids: list[int], codes: dict[int, str]) -> None:
    for grant, milestone, customer_id, ref_code in _rows(grant_ids):
        data = {**_base(grant, milestone), "delivered_at": iso(grant.delivered_at)}
        if grant.id in codes:
            data["code"] = codes[grant.id]
        events.emit(customer_id, "reward.delivered", data, ref_code)


def emit_revoked(grant_ids: list[int]) -> None:
    for grant, milestone, customer_id, ref_code in _rows(grant_ids):
        data = {
            **_base(grant, milestone),
            "reason_code": grant.reason_code,
            "reason": reason_text(grant),
        }
        events.emit(customer_id, "reward.revoked", data, ref_code)
