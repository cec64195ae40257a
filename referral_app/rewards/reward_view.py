"""What a participant sees of a reward: its state, and once delivered, the reward itself
(the text, the code, the download link or the amount). The download is a file the customer
uploaded, served by this app behind a link only this participant's grant opens: a token
derived with HASH_KEY from the grant and the participant (like the hub link), checked in
constant time."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..accounts import uploads
from ..core.crypto import keyed_hash
from ..core.errors import NotFound
from ..extensions import db
from ..models import CustomerFile, RewardGrant, RewardMilestone
from ..models.reward import (
    CASH,
    CODE,
    DOWNLOAD,
    GRANT_APPROVED,
    GRANT_DELIVERED,
    GRANT_PENDING,
    GRANT_REVOKED,
)
from . import codes, grant_events

TOKEN_BYTES = 24
DOWNLOAD_PATH = "/reward-file/"
# The customer's file of a download reward, in `customer_files` (one per milestone).
FILE_KIND_PREFIX = "reward:"


def file_kind(reward_id: int) -> str:
    return f"{FILE_KIND_PREFIX}{reward_id}"


def has_file(customer_id: int, reward_id: int) -> bool:
    """The download reward's file is there (without loading its bytes)."""
    found = db.session.scalar(
        select(CustomerFile.id).where(
            CustomerFile.customer_id == customer_id, CustomerFile.kind == file_kind(reward_id)
        )
    )
    return found is not None


def download_token(grant: RewardGrant) -> str:
    digest = bytes.fromhex(
        keyed_hash("reward-download-token", str(grant.id), str(grant.participant_id))
    )
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode().rstrip("=")


def download_url(grant: RewardGrant, base_url: str) -> str:
    return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}{grant.id}/{download_token(grant)}"


def download_file(grant_id: int, token: str) -> CustomerFile:
    """The file behind a participant's link: only for the right token, a delivered grant
    and a download reward; anything else is not found (no hint which part was wrong)."""
    grant = db.session.get(RewardGrant, grant_id)
    valid = grant is not None and hmac.compare_digest(
        download_token(grant).encode(), (token or "").encode()
    )
    milestone = db.session.get(RewardMilestone, grant.reward_id) if valid else None
    stored = None
    if milestone is not None and milestone.kind == DOWNLOAD and grant.status == GRANT_DELIVERED:
        stored = uploads.get_file(milestone.customer_id, file_kind(milestone.id))
    if stored is None:
        raise NotFound(str(_l("This link is not valid (any more).")))
    return stored


def amount_text(cents: int | None) -> str:
    """`12,50 €`: the German way, as every page and mail of a program shows money."""
    euros, rest = divmod(int(cents or 0), 100)
    return f"{euros:,}".replace(",", ".") + f",{rest:02d} €"


@dataclass
class RewardState:
    status: str
    label: str
    due_at: datetime | None = None
    reason: str | None = None
    reward: dict[str, Any] | None = None


_LABELS = {
    GRANT_PENDING: _l("Earned: on hold until %(date)s"),
    GRANT_APPROVED: _l("Approved: on its way from %(date)s"),
    GRANT_DELIVERED: _l("Delivered"),
    GRANT_REVOKED: _l("Taken back"),
}
_AWAITING = _l("Earned: waiting for approval")


def delivered_reward(
    grant: RewardGrant, milestone: RewardMilestone, base_url: str, code: str | None = None
) -> dict[str, Any]:
    """The reward itself, for the mail and the hub: `kind` and what goes with it."""
    found: dict[str, Any] = {"kind": milestone.kind, "delivery": milestone.delivery}
    if milestone.kind == CODE:
        found["code"] = code or codes.code_of_grants([grant.id]).get(grant.id)
    elif milestone.kind == DOWNLOAD:
        found["download_url"] = download_url(grant, base_url)
    elif milestone.kind == CASH:
        found["amount"] = amount_text(milestone.amount_cents)
    return found


def state(
    grant: RewardGrant, milestone: RewardMilestone, base_url: str, code: str | None = None
) -> RewardState:
    """A grant as its participant sees it (the hub)."""
    date = grant.due_at.strftime("%d.%m.%Y") if grant.due_at else ""
    if grant.status == GRANT_PENDING and milestone.manual_approval and grant.due_at:
        label = str(_AWAITING)
    else:
        label = str(_LABELS.get(grant.status, _LABELS[GRANT_PENDING])) % {"date": date}
    result = RewardState(status=grant.status, label=label, due_at=grant.due_at)
    if grant.status == GRANT_REVOKED:
        result.reason = grant_events.reason_text(grant)
    if grant.status == GRANT_DELIVERED:
        result.reward = delivered_reward(grant, milestone, base_url, code)
    return result
