"""The customer's reward milestones: add, edit, reorder, remove.

A milestone is "reach `threshold` referrals, get `delivery`". The ladder is always ordered by
threshold; reordering moves the rewards between the existing steps (the thresholds stay,
the rewards swap places), so `position` and the threshold order never disagree. Which
participants earned what is the ledger's job (`rewards.sync_ledger`, run by the daily job
and `stats rebuild`), not this module's.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core.errors import NotFound, ValidationFailed
from ..extensions import db
from ..models import RewardMilestone
from ..models.reward import CASH, CODE, REWARD_KINDS, TEXT
from . import codes
from . import ledger as rewards

MAX_MILESTONES = 20
MAX_THRESHOLD = 1_000_000
DEFAULT_HOLD_DAYS = 14
MAX_HOLD_DAYS = 365
MAX_AMOUNT_CENTS = 1_000_000  # 10,000 EUR


def milestone_dict(milestone: RewardMilestone) -> dict[str, Any]:
    return {
        "id": milestone.id,
        "threshold": milestone.threshold,
        "tier": milestone.tier,
        "title": milestone.title,
        "description": milestone.description,
        "delivery": milestone.delivery,
        "kind": milestone.kind,
        "amount_cents": milestone.amount_cents,
        "hold_days": milestone.hold_days,
        "manual_approval": bool(milestone.manual_approval),
    }


def milestone_items(items: list[RewardMilestone]) -> list[dict[str, Any]]:
    """`milestone_dict`s, a code reward's with its bank's stock (one query for all)."""
    stock = codes.stocks([m.id for m in items if m.kind == CODE])
    found = []
    for milestone in items:
        item = milestone_dict(milestone)
        if milestone.id in stock:
            entry = stock[milestone.id]
            item["codes"] = {key: entry[key] for key in ("available", "used", "low")}
        found.append(item)
    return found


def list_milestones(customer_id: int) -> list[RewardMilestone]:
    return list(
        db.session.scalars(
            select(RewardMilestone)
            .where(RewardMilestone.customer_id == customer_id)
            .order_by(RewardMilestone.threshold, RewardMilestone.id)
        )
    )


def get_milestone(customer_id: int, milestone_id: int) -> RewardMilestone:
    """The customer's own milestone; another customer's id is simply not found."""
    milestone = db.session.get(RewardMilestone, milestone_id)
    if milestone is None or milestone.customer_id != customer_id:
        raise NotFound(str(_l("No such reward.")))
    return milestone


def validate(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean a submitted milestone. Returns (values, field → message) and never raises, so
    the editor shows every problem next to its field."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    raw = data.get("threshold")
    try:
        threshold = int(str(raw).strip()) if not isinstance(raw, bool) else None
    except ValueError:
        threshold = None
    if threshold is None or not 1 <= threshold <= MAX_THRESHOLD:
        errors["threshold"] = str(_l("A whole number of at least 1."))
    clean["threshold"] = threshold
    for name, required, limit in (
        ("tier", True, 50),
        ("title", True, 200),
        ("description", False, 2000),
        ("delivery", False, 2000),
    ):
        value = data.get(name)
        value = value.strip() if isinstance(value, str) else ""
        if required and not value:
            errors[name] = str(_l("This field is required."))
        elif len(value) > limit:
            errors[name] = str(_l("At most %(n)d characters.", n=limit))
        clean[name] = value or None
    _validate_fulfilment(data, clean, errors)
    return clean, errors


def _whole(raw: Any) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def _cents(data: dict[str, Any]) -> int | None:
    """`amount_cents` (the API), or `amount` in euros as a person types it: `25`, `25,50`,
    `1.234,50` (German), or `25.50` (a point with one or two decimals)."""
    if data.get("amount_cents") not in (None, ""):
        return _whole(data.get("amount_cents"))
    raw = data.get("amount")
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip().replace("€", "").replace(" ", "")
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    elif not re.fullmatch(r"\d+(\.\d{1,2})?", text):
        text = text.replace(".", "")
    if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", text):
        return None
    return round(Decimal(text) * 100)


def _validate_fulfilment(data: dict[str, Any], clean: dict[str, Any], errors: dict[str, str]):
    """What the reward is (`kind`), how long it is held, whether the customer approves it."""
    kind = data.get("kind") or TEXT
    if kind not in REWARD_KINDS:
        errors["kind"] = str(_l("Choose text, code, download or cash."))
    clean["kind"] = kind
    clean["amount_cents"] = None
    if kind == CASH:
        cents = _cents(data)
        if cents is None or not 1 <= cents <= MAX_AMOUNT_CENTS:
            errors["amount_cents"] = str(_l("An amount in euros between 0.01 and 10,000."))
        clean["amount_cents"] = cents
    raw_hold = data.get("hold_days")
    hold = DEFAULT_HOLD_DAYS if raw_hold in (None, "") else _whole(raw_hold)
    if hold is None or not 0 <= hold <= MAX_HOLD_DAYS:
        errors["hold_days"] = str(_l("A whole number of days from 0 to %(n)d.", n=MAX_HOLD_DAYS))
    clean["hold_days"] = hold
    approval = data.get("manual_approval")
    clean["manual_approval"] = approval is True or approval in ("1", "on", "true", "yes")


def _fail(errors: dict[str, str]) -> None:
    raise ValidationFailed(str(_l("Please check the highlighted fields.")), fields=errors)


def _threshold_taken(customer_id: int, threshold: int, except_id: int | None = None) -> bool:
    query = select(RewardMilestone.id).where(
        RewardMilestone.customer_id == customer_id, RewardMilestone.threshold == threshold
    )
    if except_id is not None:
        query = query.where(RewardMilestone.id != except_id)
    return db.session.scalar(query) is not None


_TAKEN = _l("Another reward already has this number of referrals.")


def create_milestone(customer_id: int, data: dict[str, Any]) -> RewardMilestone:
    """Add a milestone. The unique key (customer, threshold) is the final word. Commits."""
    clean, errors = validate(data)
    if "threshold" not in errors and _threshold_taken(customer_id, clean["threshold"]):
        errors["threshold"] = str(_TAKEN)
    count = len(list_milestones(customer_id))
    if count >= MAX_MILESTONES:
        errors["threshold"] = str(_l("At most %(n)d rewards.", n=MAX_MILESTONES))
    if errors:
        _fail(errors)
    milestone = RewardMilestone(customer_id=customer_id, position=count, **clean)
    db.session.add(milestone)
    _commit()
    _renumber(customer_id)
    return milestone


def update_milestone(customer_id: int, milestone_id: int, data: dict[str, Any]) -> RewardMilestone:
    """Edit a milestone (all fields, as the editor's form sends them). Commits."""
    milestone = get_milestone(customer_id, milestone_id)
    merged = {**milestone_dict(milestone), **{k: v for k, v in data.items() if v is not None}}
    if data.get("amount") not in (None, "") and data.get("amount_cents") is None:
        merged.pop("amount_cents")  # the form's euros replace the stored cents
    clean, errors = validate(merged)
    if "threshold" not in errors and _threshold_taken(
        customer_id, clean["threshold"], milestone.id
    ):
        errors["threshold"] = str(_TAKEN)
    if errors:
        _fail(errors)
    for name, value in clean.items():
        setattr(milestone, name, value)
    _commit()
    _renumber(customer_id)
    return milestone


def delete_milestone(customer_id: int, milestone_id: int) -> None:
    """Remove a milestone (its grants go with it: the ledger is derived data). Commits."""
    milestone = get_milestone(customer_id, milestone_id)
    db.session.delete(milestone)
    db.session.commit()
    _renumber(customer_id)


def reorder(customer_id: int, ordered_ids: list[int]) -> list[RewardMilestone]:
    """Put the rewards in this order on the existing steps: the lowest threshold goes to the
    first id, and so on. `ordered_ids` must name each of the customer's milestones once."""
    milestones = list_milestones(customer_id)
    by_id = {m.id: m for m in milestones}
    try:
        wanted = [int(i) for i in ordered_ids]
    except (TypeError, ValueError):
        wanted = []
    if sorted(wanted) != sorted(by_id):
        raise ValidationFailed(
            str(_l("Send every reward id exactly once.")),
            fields={"ids": str(_l("must list every reward once"))},
        )
    thresholds = [m.threshold for m in milestones]
    # Two steps, so the unique (customer, threshold) key never sees a duplicate midway.
    for index, milestone_id in enumerate(wanted):
        by_id[milestone_id].threshold = -(index + 1)
    db.session.flush()
    for index, milestone_id in enumerate(wanted):
        by_id[milestone_id].threshold = thresholds[index]
        by_id[milestone_id].position = index
    db.session.commit()
    _sync_ledger(customer_id)
    return list_milestones(customer_id)


def move(customer_id: int, milestone_id: int, direction: str) -> list[RewardMilestone]:
    """One step up or down the ladder (the editor's buttons, with or without JavaScript)."""
    if direction not in ("up", "down"):
        raise ValidationFailed(
            str(_l("Move up or down.")), fields={"direction": str(_l("up or down"))}
        )
    get_milestone(customer_id, milestone_id)
    milestones = list_milestones(customer_id)
    ids = [m.id for m in milestones]
    index = ids.index(milestone_id)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(ids):
        ids[index], ids[target] = ids[target], ids[index]
        return reorder(customer_id, ids)
    return milestones


def _renumber(customer_id: int) -> None:
    """Keep `position` equal to the rank by threshold."""
    changed = False
    for index, milestone in enumerate(list_milestones(customer_id)):
        if milestone.position != index:
            milestone.position = index
            changed = True
    if changed:
        db.session.commit()
    _sync_ledger(customer_id)


def _sync_ledger(customer_id: int) -> None:
    """Milestones changed: who earned what follows at once, for this program only, so
    `stats rebuild --check` never sees a ledger waiting for the daily job."""

    rewards.sync_ledger(customer_id=customer_id)


def _commit() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:  # a parallel request took the threshold first
        db.session.rollback()
        raise ValidationFailed(
            str(_l("Please check the highlighted fields.")), fields={"threshold": str(_TAKEN)}
        ) from exc
