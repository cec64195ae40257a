"""The participant's hub: their referral link, QR code, share links and progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from ..core import qr
from ..core.errors import NotFound
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    Customer,
    Participant,
    RewardGrant,
    RewardMilestone,
)
from ..models.reward import GRANT_REVOKED
from ..rewards import codes as reward_codes
from ..rewards import reward_view
from ..tracking import visitor as visitor_service
from . import links
from .program import TOKEN_PATTERN


@dataclass
class Hub:
    participant: Participant
    customer: Customer
    token: str
    referral_link: str
    qr_svg: Markup
    share_links: list[tuple[str, str]]
    referrals: int
    milestones: list[dict[str, Any]] = field(default_factory=list)
    next_milestone: dict[str, Any] | None = None
    rewards: list[dict[str, Any]] = field(default_factory=list)


def participant_by_hub_token(token: Any) -> Participant:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise NotFound(_("This link is not valid (any more)."))
    participant = links.by_token("hub", token)
    if participant is None:
        raise NotFound(_("This link is not valid (any more)."))
    return participant


def hub(token: Any, ip: str, user_agent: str) -> Hub:
    """Everything the participant's own page shows. Notes their device (self-referral
    rule), so it commits."""
    participant = participant_by_hub_token(token)
    visitor = visitor_service.identify(ip, user_agent, customer_id=participant.customer_id)
    begin_write(db.session())
    visitor_service.remember_participant_device(participant.id, visitor)
    db.session.commit()

    customer = db.session.get(Customer, participant.customer_id)
    link = links.referral_link(customer, participant)
    referrals = participant.referrals
    granted = {
        grant.reward_id: grant
        for grant in db.session.scalars(
            select(RewardGrant).where(RewardGrant.participant_id == participant.id)
        )
    }
    grant_codes = reward_codes.code_of_grants([g.id for g in granted.values()])
    milestones = []
    for milestone in db.session.scalars(
        select(RewardMilestone)
        .where(RewardMilestone.customer_id == customer.id)
        .order_by(RewardMilestone.threshold)
    ):
        grant = granted.get(milestone.id)
        state = None
        if grant is not None:
            state = reward_view.state(grant, milestone, links.base_url(), grant_codes.get(grant.id))
        milestones.append(
            {
                "milestone": milestone,
                "reached": referrals >= milestone.threshold,
                "grant": grant if grant is not None and grant.status != GRANT_REVOKED else None,
                "state": state,
            }
        )
    upcoming = next((m for m in milestones if not m["reached"]), None)
    next_milestone = None
    if upcoming is not None:
        threshold = upcoming["milestone"].threshold
        next_milestone = {
            **upcoming,
            "missing": threshold - referrals,
            "progress": max(0, referrals),
            "threshold": threshold,
        }
    return Hub(
        participant=participant,
        customer=customer,
        token=token,
        referral_link=link,
        qr_svg=qr.inline_svg(link),
        share_links=share_links(customer, link),
        referrals=referrals,
        milestones=milestones,
        next_milestone=next_milestone,
        rewards=[m for m in milestones if m["grant"] is not None],  # the revoked not among them
    )


def share_links(customer: Customer, link: str) -> list[tuple[str, str]]:
    """Plain links to share one's own link (no third-party script on our page, and the
    tool never mails anyone's friends itself)."""
    text = _("Have a look at this from %(company)s:", company=customer.company_name)
    subject = _("A tip from me: %(company)s", company=customer.company_name)
    url, message = quote(link, safe=""), quote(f"{text} {link}", safe="")
    return [
        ("WhatsApp", f"https://wa.me/?text={message}"),
        (
            _("E-mail"),
            f"mailto:?subject={quote(subject, safe='')}&body={message}",
        ),
        ("LinkedIn", f"https://www.linkedin.com/sharing/share-offsite/?url={url}"),
        ("X", f"https://x.com/intent/post?text={quote(text, safe='')}&url={url}"),
        ("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={url}"),
    ]
