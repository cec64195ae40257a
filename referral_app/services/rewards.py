"""Reward milestones and the earned-reward ledger.

A referral is a counted, non-suspicious conversion on a participant's code; a participant
earns every milestone of their customer whose threshold their referrals reach. The ledger
(`RewardGrant`) is derived data: `sync_ledger` recomputes it, so a referral later found
fraudulent takes its reward back (the grant is revoked, never silently deleted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Participant, RewardGrant, RewardMilestone, utcnow


def wanted_grants(referrals: dict[int, int] | None = None) -> set[tuple[int, int]]:
    """(participant_id, reward_id) pairs the referral counts earn. `referrals` overrides the
    participants' stored counters (the recount passes its own numbers)."""
    milestones: dict[int, list[tuple[int, int]]] = {}
    for reward in db.session.scalars(select(RewardMilestone)):
        milestones.setdefault(reward.customer_id, []).append((reward.threshold, reward.id))
    wanted: set[tuple[int, int]] = set()
    rows = db.session.execute(
        select(
            Participant.id,
            Participant.customer_id,
            Participant.conversions,
            Participant.suspicious_conversions,
        )
    )
    for pid, customer_id, conversions, suspicious in rows:
        count = referrals.get(pid, 0) if referrals is not None else conversions - suspicious
        for threshold, reward_id in milestones.get(customer_id, []):
            if count >= threshold:
                wanted.add((pid, reward_id))
    return wanted


def sync_ledger(check: bool = False, referrals: dict[int, int] | None = None) -> dict[str, Any]:
    """Make the ledger match the referrals: grant what is missing, revoke what is no longer
    earned. With `check`, only count the differences. Commits unless `check`."""
    wanted = wanted_grants(referrals)
    grants = {(g.participant_id, g.reward_id): g for g in db.session.scalars(select(RewardGrant))}
    missing = [key for key in wanted if key not in grants or grants[key].revoked_at is not None]
    extra = [g for key, g in grants.items() if key not in wanted and g.revoked_at is None]
    if not check:
        now = utcnow()
        for key in missing:
            grant = grants.get(key)
            if grant is None:
                db.session.add(RewardGrant(participant_id=key[0], reward_id=key[1], earned_at=now))
            else:
                grant.revoked_at = None
        for grant in extra:
            grant.revoked_at = now
        db.session.commit()
    return {
        "differences": len(missing) + len(extra),
        "granted": len(missing),
        "revoked": len(extra),
    }
