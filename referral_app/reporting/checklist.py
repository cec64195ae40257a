"""The launch checklist a new customer's overview shows instead of a page of zeros: each step,
whether it is done, and where it is done."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..accounts import company, uploads
from ..extensions import db
from ..models import Customer, RewardMilestone


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    hint: str
    endpoint: str  # the dashboard page where it is done
    anchor: str
    done: bool


def launch_checklist(customer: Customer, clicks: int) -> list[Step]:
    """The steps to a live program; `clicks` (all time) tells whether a link is in use."""
    rewards = db.session.scalar(
        select(func.count()).where(RewardMilestone.customer_id == customer.id)
    )
    files = uploads.files_of(customer.id)
    freebie_ready = bool(
        customer.freebie_title and (customer.freebie_url or uploads.FREEBIE in files)
    )
    missing = company.missing_for_launch(customer)
    return [
        Step(
            "company",
            str(_l("Company details with Impressum")),
            str(_l("Shown in every e-mail and on every page of your program.")),
            "customer.company",
            "imprint",
            bool(customer.contact_email) and "imprint" not in missing,
        ),
        Step(
            "privacy",
            str(_l("Link to your privacy notice")),
            str(_l("Required wherever your program collects e-mail addresses.")),
            "customer.company",
            "privacy_url",
            "privacy_url" not in missing,
        ),
        Step(
            "freebie",
            str(_l("Your freebie")),
            str(_l("What visitors get: a file to download or a link to your offer.")),
            "customer.freebie",
            "freebie-form",
            freebie_ready,
        ),
        Step(
            "rewards",
            str(_l("Rewards")),
            str(_l("What participants earn for their referrals.")),
            "customer.rewards",
            "main",
            bool(rewards),
        ),
        Step(
            "embed",
            str(_l("Embed the snippet or share the hosted page")),
            str(_l("Ticked with the first click on your program link.")),
            "customer.embed",
            "main",
            clicks > 0,
        ),
        Step(
            "live",
            str(_l("Switch the program on")),
            str(_l("Possible once the Impressum and the privacy link are there.")),
            "customer.overview",
            "program-status",
            customer.program_active,
        ),
    ]
