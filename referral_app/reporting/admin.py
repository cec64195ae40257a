"""The admin's view of every program: overview, customer list and drill-down, program
actions and the audit trail. The JSON API and the HTMX pages call the same functions.

Numbers come from the aggregates (`referral_stats`, `referral_daily_stats`); the raw event
tables are read only where no aggregate exists (duplicate IPs, participants, the fraud log),
always bounded by an index or a time window.

With a read replica (services/readonly.py) the overview, the customer list and the
drill-down's numbers read from it; a customer's own row (its program state), the actions and
the audit trail stay on the primary.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Float, and_, case, cast, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..core import readonly
from ..core.errors import NotFound, ValidationFailed
from ..core.formats import iso, percent
from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    COUNTERS,
    ROLE_ADMIN,
    ApiKey,
    AuditEntry,
    Click,
    Customer,
    CustomerStats,
    DailyStats,
    FraudLogEntry,
    Participant,
    User,
    utcnow,
)
from ..tracking import stats
from . import dashboard

# Fraud-log types that mean "a rate limit held this back" (overview: rate_limit_blocks).
RATE_LIMIT_TYPES = ("click_rate_limit", "ip_daily_limit", "conversion_rate_limit")
DUPLICATE_IP_HOURS = 24
TOP_PERFORMERS = 5
CUSTOMERS_PER_PAGE = 25
AUDIT_PER_PAGE = 50
RECENT_FRAUD = 10
MAX_REASON = 500
PROGRAM_ACTIONS = ("enable", "disable", "suspend", "unsuspend")
SORTS = ("conversions", "rate", "fraud", "name", "newest")
# The daily series' fields, as the customer API's daily-stats shows them.
DAILY_FIELDS = (
    "clicks",
    "unique_clicks",
    "conversions",
    "suspicious_conversions",
    "leads",
    "confirmed_leads",
)

T = TypeVar("T")


# --- small shared helpers ------------------------------------------------------------------


def parse_positive_int(raw: Any, field: str, *, default: int | None = None) -> int | None:
    """An id or page number from a query string; 400 (`validation_failed`) when it is not
    a positive integer, `default` when it is absent."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 12 or int(text) < 1:
        message = _("%(field)s must be a positive whole number.", field=field)
        raise ValidationFailed(message, fields={field: message})
    return int(text)


def require_customer_id(raw: Any) -> int:
    """`customer_id` of a request: required, a positive integer (else 400)."""
    customer_id = parse_positive_int(raw, "customer_id")
    if customer_id is None:
        message = _("customer_id is required.")
        raise ValidationFailed(message, fields={"customer_id": message})
    return customer_id


def _cached(name: str, compute: Callable[[], T]) -> T:
    """Counts over raw tables for a panel that polls every 10 s: computed at most once per
    `ADMIN_OVERVIEW_CACHE_SECONDS` (default 60, the seed's response cache) per process."""
    ttl = float(current_app.config.get("ADMIN_OVERVIEW_CACHE_SECONDS", 60))
    store: dict[str, tuple[float, Any]] = current_app.extensions.setdefault("admin_cache", {})
    now = time.monotonic()
    hit = store.get(name)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = compute()
    store[name] = (now, value)
    return value


# --- overview ------------------------------------------------------------------------------


def _active_condition() -> ColumnElement[bool]:
    return and_(Customer.referral_enabled.is_(True), Customer.suspended_at.is_(None))


def overview() -> dict[str, Any]:
    """API.md `get-overview`. Totals are sums of the per-customer aggregates, so they equal
    the sum over customers by construction; `avg_conversion_rate` is all conversions over
    all unique clicks (a weighted average, not the mean of the programs' rates)."""
    reader = readonly.session()
    sums = reader.execute(
        select(*[func.coalesce(func.sum(getattr(CustomerStats, n)), 0) for n in COUNTERS])
    ).one()
    totals = {name: int(value) for name, value in zip(COUNTERS, sums, strict=True)}
    customers, programs_active, suspended = reader.execute(
        select(
            func.count(Customer.id),
            func.coalesce(func.sum(case((_active_condition(), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Customer.suspended_at.is_not(None), 1), else_=0)), 0),
        )
    ).one()
    fraud_counts = _cached("fraud_counts", _fraud_counts)
    return {
        "programs_active": int(programs_active),
        "customers": int(customers),
        "suspended": int(suspended),
        "clicks": totals["clicks"],
        "unique_clicks": totals["unique_clicks"],
        "conversions": totals["conversions"],
        "leads": totals["leads"],
        "confirmed_leads": totals["confirmed_leads"],
        "avg_conversion_rate": percent(totals["conversions"], totals["unique_clicks"]),
        "top_performers": top_performers(),
        "fraud": {
            "suspicious_conversions": totals["suspicious_conversions"],
            "suspicious_rate": percent(totals["suspicious_conversions"], totals["conversions"]),
            "rate_limit_blocks": fraud_counts["rate_limit_blocks"],
            "duplicate_ips": fraud_counts["duplicate_ips"],
            "duplicate_ips_hours": DUPLICATE_IP_HOURS,
            "blocked_clicks": totals["blocked_clicks"],
            "blocked_conversions": totals["blocked_conversions"],
            "unreviewed": fraud_counts["unreviewed"],
        },
    }


def top_performers(limit: int = TOP_PERFORMERS) -> list[dict[str, Any]]:
    """The programs with the most counted conversions (ties: the older customer first)."""
    reader = readonly.session()
    rows = reader.execute(
        select(
            Customer.id,
            Customer.company_name,
            CustomerStats.conversions,
            CustomerStats.unique_clicks,
        )
        .join(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(CustomerStats.conversions > 0)
        .order_by(CustomerStats.conversions.desc(), Customer.id)
        .limit(limit)
    ).all()
    return [
        {
            "customer_id": customer_id,
            "company_name": name,
            "conversions": int(conversions),
            "conversion_rate": percent(int(conversions), int(unique)),
        }
        for customer_id, name, conversions, unique in rows
    ]


def _fraud_counts() -> dict[str, int]:
    """rate_limit_blocks: fraud-log entries of the rate-limit types (all stored; the monthly
    cleanup bounds them). duplicate_ips: IP hashes that clicked with more than one visitor
    fingerprint in the last 24 hours, the horizon of the 24-hour rules (a shared office or
    household is a signal, not a verdict). IP hashes are salted per day, so a longer window
    would only add up separate days; the 24 hours keep the scan to one day's clicks."""
    since = utcnow() - timedelta(hours=DUPLICATE_IP_HOURS)
    reader = readonly.session()
    rate_limit_blocks = reader.scalar(
        select(func.count(FraudLogEntry.id)).where(FraudLogEntry.type.in_(RATE_LIMIT_TYPES))
    )
    shared = (
        select(Click.ip_hash)
        # Read only the day's rows, by time; MariaDB would otherwise walk the ip_hash index
        # (its grouping order) through the whole table.
        .with_hint(Click, "FORCE INDEX (idx_click_created)", "mysql")
        .with_hint(Click, "FORCE INDEX (idx_click_created)", "mariadb")
        .where(Click.created_at >= since)
        .group_by(Click.ip_hash)
        .having(func.min(Click.fingerprint) != func.max(Click.fingerprint))
        .subquery()
    )
    duplicate_ips = reader.scalar(select(func.count()).select_from(shared))
    unreviewed = reader.scalar(
        select(func.count(FraudLogEntry.id)).where(FraudLogEntry.reviewed_at.is_(None))
    )
    return {
        "rate_limit_blocks": int(rate_limit_blocks or 0),
        "duplicate_ips": int(duplicate_ips or 0),
        "unreviewed": int(unreviewed or 0),
    }


def overall_daily_series(days: int = 30) -> list[dict[str, Any]]:
    """Every program's daily rollup summed per day, zeros included, oldest first."""
    last = stats.today()
    first = last - timedelta(days=days - 1)
    columns = [func.sum(getattr(DailyStats, name)) for name in COUNTERS]
    reader = readonly.session()
    rows = reader.execute(
        select(DailyStats.day, *columns)
        .where(DailyStats.day >= first, DailyStats.day <= last)
        .group_by(DailyStats.day)
    ).all()
    by_day = {row[0]: row[1:] for row in rows}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        values = by_day.get(day)
        entry: dict[str, Any] = {"date": day.isoformat()}
        for index, name in enumerate(COUNTERS):
            entry[name] = int(values[index] or 0) if values else 0
        series.append(entry)
    return series


# --- the customer list ---------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerQuery:
    """Search, sort and page of the customer list, validated once for API and page."""

    q: str = ""
    sort: str = "conversions"
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> CustomerQuery:
        q = str(args.get("q") or "").strip()[:100]
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


# --- one customer --------------------------------------------------------------------------


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
        {key: entry[key] for key in ("date", *DAILY_FIELDS)}
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


# --- actions on a program ------------------------------------------------------------------


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
    from ..tracking.engine import forget_cached_codes  # this process follows the switch at once

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
    from ..participants import erasure

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


# --- the audit trail -----------------------------------------------------------------------


def record_audit(
    user_id: int | None,
    action: str,
    target_type: str | None = None,
    target_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Note an admin action in the caller's unit of work (the caller commits). `action` is
    `<area>.<verb>` (program.suspend, fraud.review, export.stats, customer.delete, …);
    `details` must hold no personal data."""
    entry = AuditEntry(
        user_id=user_id,
        action=action[:50],
        target_type=target_type,
        target_id=target_id,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None,
    )
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditQuery:
    action: str = ""
    user_id: int | None = None
    target_type: str = ""
    target_id: int | None = None
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> AuditQuery:
        action = str(args.get("action") or "").strip()[:50]
        return cls(
            action=action,
            user_id=parse_positive_int(args.get("user_id"), "user_id"),
            target_type=str(args.get("target_type") or "").strip()[:50],
            target_id=parse_positive_int(args.get("target_id"), "target_id"),
            page=parse_positive_int(args.get("page"), "page", default=1) or 1,
        )


def audit_log(query: AuditQuery, per_page: int = AUDIT_PER_PAGE) -> dict[str, Any]:
    """Newest first, filtered by action, admin and target; `next_page` as in the fraud log."""
    conditions = []
    if query.action:
        conditions.append(AuditEntry.action == query.action)
    if query.user_id:
        conditions.append(AuditEntry.user_id == query.user_id)
    if query.target_type:
        conditions.append(AuditEntry.target_type == query.target_type)
    if query.target_id:
        conditions.append(AuditEntry.target_id == query.target_id)
    rows = db.session.execute(
        select(AuditEntry, User.email)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(*conditions)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset((query.page - 1) * per_page)
        .limit(per_page + 1)
    ).all()
    items = [
        {
            "id": entry.id,
            "action": entry.action,
            "user_id": entry.user_id,
            "user_email": email,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "details": json.loads(entry.details) if entry.details else {},
            "created_at": iso(entry.created_at),
        }
        for entry, email in rows[:per_page]
    ]
    return {
        "items": items,
        "page": query.page,
        "next_page": query.page + 1 if len(rows) > per_page else None,
    }


def audit_filters() -> dict[str, Any]:
    """The choices of the audit page's filter: the actions recorded so far and the admins."""
    actions = db.session.scalars(
        select(AuditEntry.action).group_by(AuditEntry.action).order_by(AuditEntry.action)
    ).all()
    admins = db.session.execute(
        select(User.id, User.email).where(User.role == ROLE_ADMIN).order_by(User.email)
    ).all()
    return {"actions": list(actions), "admins": [{"id": i, "email": e} for i, e in admins]}
