"""Reward milestones and the earned-reward ledger.

A referral is a counted, non-suspicious conversion on a participant's code; a participant
earns every milestone of their customer whose threshold their referrals reach. The ledger
(`RewardGrant`) is derived data: `sync_ledger` recomputes it, so a referral later found
fraudulent takes its reward back (the grant is revoked, never silently deleted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..core.sqlutil import begin_write, insert_ignore, insert_returning_id
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    OutgoingMail,
    Participant,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from ..models.delivery import PENDING
from ..participants import mail as mail_service
from ..webhooks import events


def wanted_grants(
    referrals: dict[int, int] | None = None, customer_id: int | None = None
) -> set[tuple[int, int]]:
    """(participant_id, reward_id) pairs the referral counts earn. `referrals` overrides the
    participants' stored counters (the recount passes its own numbers); `customer_id` limits
    the work to one program."""
    milestones: dict[int, list[tuple[int, int]]] = {}
    reward_query = select(RewardMilestone)
    participant_query = select(
        Participant.id,
        Participant.customer_id,
        Participant.conversions,
        Participant.suspicious_conversions,
    )
    if customer_id is not None:
        reward_query = reward_query.where(RewardMilestone.customer_id == customer_id)
        participant_query = participant_query.where(Participant.customer_id == customer_id)
    for reward in db.session.scalars(reward_query):
        milestones.setdefault(reward.customer_id, []).append((reward.threshold, reward.id))
    wanted: set[tuple[int, int]] = set()
    rows = db.session.execute(participant_query)
    for pid, customer_id, conversions, suspicious in rows:
        count = referrals.get(pid, 0) if referrals is not None else conversions - suspicious
        for threshold, reward_id in milestones.get(customer_id, []):
            if count >= threshold:
                wanted.add((pid, reward_id))
    return wanted


def sync_ledger(
    check: bool = False,
    referrals: dict[int, int] | None = None,
    customer_id: int | None = None,
) -> dict[str, Any]:
    """Make the ledger match the referrals: grant what is missing, revoke what is no longer
    earned. With `check`, only count the differences. Commits unless `check`.

    Safe to run in two workers at once: new grants are inserted with insert-ignore under the
    unique (participant, reward) key and changes are conditional updates, so each grant is
    made (and announced) once."""
    wanted = wanted_grants(referrals, customer_id)
    grant_query = select(RewardGrant)
    if customer_id is not None:
        grant_query = grant_query.join(
            Participant, Participant.id == RewardGrant.participant_id
        ).where(Participant.customer_id == customer_id)
    grants = {(g.participant_id, g.reward_id): g for g in db.session.scalars(grant_query)}
    missing = [key for key in wanted if key not in grants or grants[key].revoked_at is not None]
    extra = [g.id for key, g in grants.items() if key not in wanted and g.revoked_at is None]
    if check:
        return {
            "differences": len(missing) + len(extra),
            "granted": len(missing),
            "revoked": len(extra),
        }
    now = utcnow()
    table = RewardGrant.__table__
    begin_write(db.session())
    earned = []
    for key in missing:
        grant = grants.get(key)
        if grant is None:
            changed = insert_ignore(
                db.session,
                table,
                {"participant_id": key[0], "reward_id": key[1], "earned_at": now},
            )
        else:
            changed = db.session.execute(
                table.update()
                .where(table.c.id == grant.id, table.c.revoked_at.is_not(None))
                .values(revoked_at=None)
            ).rowcount
        if changed:
            earned.append(key)
    revoked = 0
    if extra:
        revoked = db.session.execute(
            table.update()
            .where(table.c.id.in_(extra), table.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
    db.session.commit()
    announce(earned)
    return {
        "differences": len(missing) + len(extra),
        "granted": len(earned),
        "revoked": revoked,
    }


def grant_on_referral(session: Session, participant_id: int) -> list[tuple[int, int]]:
    """Right after a counted conversion, in its transaction: grant every milestone the
    participant's referrals now reach, so the hub shows it at once and the ledger never lags
    behind the counters (`stats rebuild --check` stays clean). Cheap when nothing is
    reached. Returns the new (participant, reward) pairs; pass them to `announce` after the
    commit. The daily job mails the rewards; `sync_ledger` stays the safety net."""
    row = session.execute(
        select(
            Participant.customer_id,
            Participant.conversions - Participant.suspicious_conversions,
        ).where(Participant.id == participant_id)
    ).one_or_none()
    if row is None:
        return []
    customer_id, referrals = row
    reached = session.scalars(
        select(RewardMilestone.id).where(
            RewardMilestone.customer_id == customer_id,
            RewardMilestone.threshold <= referrals,
            ~exists().where(
                RewardGrant.participant_id == participant_id,
                RewardGrant.reward_id == RewardMilestone.id,
            ),
        )
    ).all()
    earned = []
    for reward_id in reached:
        values = {"participant_id": participant_id, "reward_id": reward_id, "earned_at": utcnow()}
        if insert_ignore(session, RewardGrant.__table__, values):
            earned.append((participant_id, reward_id))
    return earned


def announce(earned: list[tuple[int, int]]) -> None:
    """`reward.earned` for each new grant, after the commit."""
    if not earned:
        return
    people = {
        row.id: row
        for row in db.session.execute(
            select(Participant.id, Participant.customer_id, Participant.ref_code).where(
                Participant.id.in_({pid for pid, _reward in earned})
            )
        )
    }
    milestones = {
        m.id: m
        for m in db.session.scalars(
            select(RewardMilestone).where(RewardMilestone.id.in_({r for _pid, r in earned}))
        )
    }
    for pid, reward_id in earned:
        person, milestone = people.get(pid), milestones.get(reward_id)
        if person is None or milestone is None:
            continue
        events.emit(
            person.customer_id,
            "reward.earned",
            {
                "participant_id": pid,
                "reward_id": reward_id,
                "tier": milestone.tier,
                "title": milestone.title,
                "threshold": milestone.threshold,
            },
            person.ref_code,
        )


def queue_reward_mails() -> int:
    """One reward mail per earned grant, exactly once: the outbox's unique
    `reward_grant_id` lets only one of any number of concurrent runs insert it, and a
    revoked grant or one already mailed is skipped. Grants of people who are not
    confirmed (pending, unsubscribed) wait. Returns the number of mails queued."""

    due = db.session.execute(
        select(RewardGrant.id, Participant.id, Participant.customer_id)
        .join(Participant, Participant.id == RewardGrant.participant_id)
        .where(
            RewardGrant.revoked_at.is_(None),
            RewardGrant.mail_sent_at.is_(None),
            Participant.status == CONFIRMED_STATUS,
            ~exists().where(OutgoingMail.reward_grant_id == RewardGrant.id),
        )
        .order_by(RewardGrant.id)
    ).all()
    queued = 0
    for grant_id, participant_id, customer_id in due:
        begin_write(db.session())
        mail_id = insert_returning_id(
            db.session,
            OutgoingMail.__table__,
            {
                "customer_id": customer_id,
                "participant_id": participant_id,
                "kind": mail_service.REWARD,
                "reward_grant_id": grant_id,
                "status": PENDING,
                "attempts": 0,
                "created_at": utcnow(),
            },
            ignore_conflict=True,
        )
        db.session.commit()
        if mail_id is not None:
            queued += 1
            mail_service.dispatch(mail_id)
    return queued
