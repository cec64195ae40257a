"""The admin's customer list and drill-down, and the actions on a program (switch, suspend,
delete, erase a participant). A customer's own row (its program state), the actions and
the audit entries they write stay on the primary; lists and numbers read the replica.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Float, case, cast, delete, func, or_, select, update

from ..core import readonly
from ..core.errors import NotFound, ValidationFailed
from ..core.formats import iso, percent
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    COUNTERS,
    PUBLIC_COUNTERS,
    ApiKey,
    Customer,
    CustomerStats,
    FraudLogEntry,
    Participant,
    User,
    utcnow,
)
from ..participants import erasure
from ..tracking import stats
from ..tracking.owners import forget_cached_codes
from . import dashboard
from .audit_trail import record_audit
from .paging import parse_positive_int

CUSTOMERS_PER_PAGE = 25
MAX_SEARCH = 100
RECENT_FRAUD = 10
MAX_REASON = 500
PROGRAM_ACTIONS = ("enable", "disable", "suspend", "unsuspend")
SORTS = ("conversions", "rate", "fraud", "name", "newest")


def require_customer_id(raw: Any) -> int:
    """`customer_id` of a request: required, a positive integer (else 400)."""
    customer_id = parse_positive_int(raw, "customer_id")
    if customer_id is None:
        message = _("customer_id is required.")
        raise ValidationFailed(message, fields={"customer_id": message})
    return customer_id


@dataclass(frozen=True)
class CustomerQuery:
    """Search, sort and page of the customer list, validated once for API and page."""

    q: str = ""
    sort: str = "conversions"
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> CustomerQuery:
        q = str(args.get("q") or "").strip()
        if len(q) > MAX_SEARCH:
            message = _("The search text is too long (at most %(n)d characters).", n=MAX_SEARCH)
            raise ValidationFailed(message, fields={"q": message})
        sort = str(args.get("sort") or "conversions").strip()
        if sort not in SORTS:
            message = _("Sort by one of: %(sorts)s.", sorts=", ".join(SORTS))
            raise ValidationFailed(message, fields={"sort": message})
        page = parse_positive_int(args.get("page"), "page", default=1)
        return cls(q=q, sort=sort, page=page or 1)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_list(query: CustomerQuery, per_page: int = CUSTOMERS_PER_PAGE) -> dict[str, Any]:
    """One page of customers with their totals, searched by company name or code (a
    program code, or a participant's personal code, which finds its program)."""
    n = {name: func.coalesce(getattr(CustomerStats, name), 0) for name in COUNTERS}
    rate = case(
        (n["unique_clicks"] > 0, cast(n["conversions"], Float) / n["unique_clicks"]), else_=0.0
    )
    fraud_share = case(
        (n["conversions"] > 0, cast(n["suspicious_conversions"], Float) / n["conversions"]),
        else_=0.0,
    )
    conditions = []
    if query.q:
        pattern = _like_pattern(query.q)
        by_participant = select(Participant.customer_id).where(
            Participant.ref_code == query.q.upper()
        )
        conditions.append(
            or_(
                Customer.company_name.ilike(pattern, escape="\\"),
                Customer.ref_code.ilike(pattern, escape="\\"),
                Customer.id.in_(by_participant),
            )
        )
    order = {
        "conversions": [n["conversions"].desc()],
        "rate": [rate.desc(), n["conversions"].desc()],
        "fraud": [fraud_share.desc(), n["suspicious_conversions"].desc()],
        "name": [Customer.company_name],
        "newest": [Customer.created_at.desc()],
    }[query.sort]
    reader = readonly.session()
    base = select(Customer.id).where(*conditions)
    total = reader.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    rows = reader.execute(
        select(Customer, *n.values())
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(*conditions)
        .order_by(*order, Customer.id)
        .offset((query.page - 1) * per_page)
        .limit(per_page)
    ).all()
    open_fraud = _open_fraud_counts(reader, [row[0].id for row in rows])
    items = []
    for row in rows:
        customer = row[0]
        counters = dict(zip(COUNTERS, (int(v) for v in row[1:]), strict=True))
        items.append(
            {
                **customer_summary(customer),
                **stats.with_rate(counters),
                "fraud_share": percent(counters["suspicious_conversions"], counters["conversions"]),
                "open_fraud_entries": open_fraud.get(customer.id, 0),
            }
        )
    return {
        "items": items,
        "page": query.page,
        "pages": pages,
        "total": int(total),
        "next_page": query.page + 1 if query.page < pages else None,
    }


def _open_fraud_counts(reader: readonly.Reader, customer_ids: list[int]) -> dict[int, int]:
    if not customer_ids:
        return {}
    rows = reader.execute(
        select(FraudLogEntry.customer_id, func.count(FraudLogEntry.id))
        .where(FraudLogEntry.customer_id.in_(customer_ids), FraudLogEntry.reviewed_at.is_(None))
        .group_by(FraudLogEntry.customer_id)
    )
    return {customer_id: int(count) for customer_id, count in rows}


def customer_summary(customer: Customer) -> dict[str, Any]:
    """The customer as the admin API shows it (no secrets, no participants)."""
    return {
        "customer_id": customer.id,
        "company_name": customer.company_name,
        "ref_code": customer.ref_code,
        "contact_email": customer.contact_email,
        "website": customer.website,
        "enabled": customer.referral_enabled,
        "program_active": customer.program_active,
        "suspended_at": iso(customer.suspended_at),
        "suspended_reason": customer.suspended_reason,
        "created_at": iso(customer.created_at),
    }


def fraud_item(
    entry: FraudLogEntry, company_name: str | None = None, reviewer: str | None = None
) -> dict[str, Any]:
    """One entry as the API shows it: API.md's fields first, then what the admin page uses."""
    item = {
        "id": entry.id,
        "type": entry.type,
        "customer_id": entry.customer_id,
        "ref_code": entry.ref_code,
        "created_at": iso(entry.created_at),
        "details": entry.details or {},
        "event": entry.event,
        "reviewed_at": iso(entry.reviewed_at),
        "reviewed_by": entry.reviewed_by,
    }
    if company_name is not None:
        item["company_name"] = company_name
    if reviewer is not None:
        item["reviewed_by_email"] = reviewer
    return item


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(_("There is no customer with this id."), code="unknown_customer")
    return customer


def customer_details(customer_id: int, days: int = 30) -> dict[str, Any]:
    """API.md `get-customer-details`: the customer, its S totals and last 30 days, the daily
    series, the participants count and the latest fraud-log entries. The customer (its
    program state, just changed by an action maybe) from the primary, the rest as dashboards
    read."""
    customer = get_customer(customer_id)
    reader = readonly.session()
    program = dashboard.program_stats(customer_id)
    today = stats.today()
    daily = [
        {key: entry[key] for key in ("date", *PUBLIC_COUNTERS)}
        for entry in stats.daily_series(customer_id, today - timedelta(days=days - 1), today)
    ]
    by_status = dict(
        reader.execute(
            select(Participant.status, func.count(Participant.id))
            .where(Participant.customer_id == customer_id)
            .group_by(Participant.status)
        ).all()
    )
    recent = reader.scalars(
        select(FraudLogEntry)
        .where(FraudLogEntry.customer_id == customer_id)
        .order_by(FraudLogEntry.created_at.desc(), FraudLogEntry.id.desc())
        .limit(RECENT_FRAUD)
    ).all()
    totals = program["totals"]
    return {
        "customer": customer_summary(customer),
        "totals": totals,
        "last_30_days": program["last_30_days"],
        "trend_7d": program["trend_7d"],
        "fraud_share": percent(totals["suspicious_conversions"], totals["conversions"]),
        "daily": daily,
        "participants": int(sum(by_status.values())),
        "participants_by_status": {status: int(n) for status, n in by_status.items()},
        "recent_fraud": [fraud_item(entry) for entry in recent],
    }


def change_program(
    customer_id: int, action: str, admin_id: int, reason: str | None = None, via: str = "page"
) -> Customer:
    """Switch a program on or off, or suspend / un-suspend it. Switching off and suspending
    need a reason, which the audit trail keeps. A suspended program stays off whatever the
    customer's own switch says, until an admin lifts it. Commits."""
    if action not in PROGRAM_ACTIONS:
        message = _("Unknown action.")
        raise ValidationFailed(message, fields={"action": message})
    reason = (reason or "").strip()
    if action in ("disable", "suspend") and not reason:
        message = _("Please give a reason.")
        raise ValidationFailed(message, code="reason_required", fields={"reason": message})
    if len(reason) > MAX_REASON:
        message = _("The reason may have at most %(n)s characters.", n=MAX_REASON)
        raise ValidationFailed(message, fields={"reason": message})
    begin_write(db.session())
    customer = get_customer(customer_id)
    if action == "enable":
        customer.referral_enabled = True
    elif action == "disable":
        customer.referral_enabled = False
    elif action == "suspend":
        customer.suspended_at = utcnow()
        customer.suspended_reason = reason
    else:
        customer.suspended_at = None
        customer.suspended_reason = None
    details: dict[str, Any] = {"via": via}
    if reason:
        details["reason"] = reason
    record_audit(admin_id, f"program.{action}", "customer", customer.id, details)
    db.session.commit()

    forget_cached_codes()
    return customer


def delete_customer(customer_id: int, admin_id: int, confirm: str, via: str = "page") -> str:
    """Close a customer's account with everything it owns (events, participants, rewards,
    webhooks: the database cascades). The admin types the program code to confirm, so a
    stray click deletes nothing. Returns the company name. Commits."""
    begin_write(db.session())
    customer = get_customer(customer_id)
    if (confirm or "").strip().upper() != customer.ref_code.upper():
        message = _("Type the program code to confirm the deletion.")
        raise ValidationFailed(message, code="confirmation_required", fields={"confirm": message})
    name, code = customer.company_name, customer.ref_code
    user_ids = select(User.id).where(User.customer_id == customer_id)
    # Referrals between this customer's own participants would make MariaDB's cascade touch
    # the table it is deleting from; cut those links first.
    db.session.execute(
        update(Participant)
        .where(Participant.customer_id == customer_id)
        .values(referred_by_id=None)
    )
    db.session.execute(delete(ApiKey).where(ApiKey.user_id.in_(user_ids)))
    db.session.execute(delete(User).where(User.customer_id == customer_id))
    db.session.expunge(customer)
    db.session.execute(delete(Customer).where(Customer.id == customer_id))
    record_audit(
        admin_id,
        "customer.delete",
        "customer",
        customer_id,
        {"via": via, "company_name": name, "ref_code": code},
    )
    db.session.commit()
    return name


def erase_participant(customer_id: int, code: str, admin_id: int) -> None:
    """An admin erases one participant of this customer, found by their personal code
    (DSGVO Art. 17, for requests that reach the platform operator). The participants
    service does the erasure and writes the audit entry. Commits."""

    code = (code or "").strip().upper()
    participant_id = db.session.scalar(
        select(Participant.id).where(
            Participant.customer_id == customer_id, Participant.ref_code == code
        )
    )
    if not code or participant_id is None:
        raise NotFound(
            _("This customer has no participant with this code."), code="unknown_participant"
        )
    erasure.erase_participant(customer_id, participant_id, f"user:{admin_id}")
