"""What customers and admins see of a participant (API.md participants), and the Art. 15
export with the consent proof.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..core import crypto
from ..core.errors import NotFound
from ..core.formats import iso
from ..extensions import db
from ..models import (
    ConsentText,
    Conversion,
    OutgoingMail,
    Participant,
    ParticipantDevice,
    RewardGrant,
    RewardMilestone,
)
from ..rewards import codes as reward_codes


def _rewards(participant_id: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(RewardGrant, RewardMilestone)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(RewardGrant.participant_id == participant_id)
        .order_by(RewardMilestone.threshold)
    ).all()
    codes = reward_codes.code_of_grants([grant.id for grant, _milestone in rows])
    return [
        {
            "reward_id": milestone.id,
            "tier": milestone.tier,
            "title": milestone.title,
            "threshold": milestone.threshold,
            "earned_at": iso(grant.earned_at),
            "mail_sent_at": iso(grant.mail_sent_at),
            "revoked_at": iso(grant.revoked_at),
            "status": grant.status,
            "due_at": iso(grant.due_at),
            "delivered_at": iso(grant.delivered_at),
            "reason": grant.reason,
            "code": codes.get(grant.id),
        }
        for grant, milestone in rows
    ]


def participant_summary(p: Participant) -> dict[str, Any]:
    """One item of API.md `GET /api/referral/participants`."""
    return {
        "id": p.id,
        "email": crypto.decrypt(p.email_encrypted),
        "name": crypto.decrypt(p.name_encrypted),
        "ref_code": p.ref_code,
        "status": p.status,
        "referrals": p.referrals,
        "rewards": [
            {key: r[key] for key in ("tier", "title", "threshold", "earned_at")}
            for r in _rewards(p.id)
            if r["revoked_at"] is None
        ],
        "created_at": iso(p.created_at),
        "confirmed_at": iso(p.confirmed_at),
    }


def export_participant(customer_id: int, participant_id: int) -> dict[str, Any]:
    """Everything stored about one participant (DSGVO Art. 15), the consent proof included
    (API.md export shape, without the "ok"). Raises NotFound for another customer's id."""
    p = db.session.get(Participant, participant_id)
    if p is None or p.customer_id != customer_id:
        raise NotFound(_("No such participant."))
    wording = db.session.get(ConsentText, p.consent_text_id) if p.consent_text_id else None
    referred_by = None
    if p.referred_by_id:
        referred_by = db.session.scalar(
            select(Participant.ref_code).where(Participant.id == p.referred_by_id)
        )
    conversions = db.session.scalars(
        select(Conversion).where(Conversion.participant_id == p.id).order_by(Conversion.id)
    )
    devices = db.session.scalars(
        select(ParticipantDevice).where(ParticipantDevice.participant_id == p.id)
    )
    mails = db.session.scalars(
        select(OutgoingMail).where(OutgoingMail.participant_id == p.id).order_by(OutgoingMail.id)
    )
    return {
        "participant": {
            **participant_summary(p),
            "language": p.language,
            "referred_by": referred_by,
            "unsubscribed_at": iso(p.unsubscribed_at),
            "clicks": p.clicks,
            "unique_clicks": p.unique_clicks,
            "conversions": p.conversions,
            "suspicious_conversions": p.suspicious_conversions,
            "confirmation_sent_at": iso(p.confirmation_sent_at),
            "updated_at": iso(p.updated_at),
        },
        "consent": {
            "text": wording.text if wording else None,
            "version": wording.version if wording else None,
            "language": wording.language if wording else None,
            "given_at": iso(p.consent_given_at),
            "page": p.consent_page,
            "ip_hash": p.consent_ip_hash,
            "confirmed_at": iso(p.confirmed_at),
        },
        "referrals": [
            {
                "id": c.id,
                "created_at": iso(c.created_at),
                "status": c.status,
                "suspicious": bool(c.suspicious),
                "reasons": c.reasons or [],
            }
            for c in conversions
        ],
        "rewards": _rewards(p.id),
        "devices": [
            {"salt_id": d.salt_id, "fingerprint": d.fingerprint, "created_at": iso(d.created_at)}
            for d in devices
        ],
        "mails": [
            {
                "kind": m.kind,
                "status": m.status,
                "created_at": iso(m.created_at),
                "sent_at": iso(m.sent_at),
            }
            for m in mails
        ],
    }
