"""The admin's fraud log: filter, page and mark entries reviewed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from ..core.errors import ValidationFailed
from ..core.formats import parse_date
from ..extensions import db
from ..models import (
    FRAUD_TYPES,
    Customer,
    FraudLogEntry,
    User,
    utcnow,
)
from .admin_customers import fraud_item
from .audit_trail import record_audit
from .paging import parse_positive_int

FRAUD_PER_PAGE = 50
MAX_REVIEW_IDS = 500


def _parse_day(raw: Any, field: str) -> date | None:
    """YYYY-MM-DD, or an ISO-8601 time (its day is used); 400 for anything else."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        value = parse_date(text, times=True)
    except ValueError:
        message = _("Use a date like 2025-01-31.")
        raise ValidationFailed(message, fields={field: message}) from None
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class FraudFilter:
    """API.md `get-fraud-log` filters (plus `until` and `reviewed`), validated once for the
    API, the page and the CSV export. `since`/`until` are whole UTC days, both included."""

    customer_id: int | None = None
    type: str = ""
    since: date | None = None
    until: date | None = None
    reviewed: str = ""  # "", "open" or "reviewed"
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> FraudFilter:
        fraud_type = str(args.get("type") or "").strip()
        if fraud_type and fraud_type not in FRAUD_TYPES:
            message = _("Unknown fraud type.")
            raise ValidationFailed(message, fields={"type": message})
        reviewed = str(args.get("reviewed") or "").strip()
        if reviewed not in ("", "open", "reviewed"):
            message = _("Choose open or reviewed entries.")
            raise ValidationFailed(message, fields={"reviewed": message})
        since = _parse_day(args.get("since"), "since")
        until = _parse_day(args.get("until"), "until")
        if since and until and until < since:
            message = _("The end date lies before the start date.")
            raise ValidationFailed(message, fields={"until": message})
        return cls(
            customer_id=parse_positive_int(args.get("customer_id"), "customer_id"),
            type=fraud_type,
            since=since,
            until=until,
            reviewed=reviewed,
            page=parse_positive_int(args.get("page"), "page", default=1) or 1,
        )

    def conditions(self) -> list[Any]:
        found: list[Any] = []
        if self.customer_id:
            found.append(FraudLogEntry.customer_id == self.customer_id)
        if self.type:
            found.append(FraudLogEntry.type == self.type)
        if self.since:
            found.append(FraudLogEntry.created_at >= datetime.combine(self.since, time.min))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min)
            found.append(FraudLogEntry.created_at < end)
        if self.reviewed == "open":
            found.append(FraudLogEntry.reviewed_at.is_(None))
        elif self.reviewed == "reviewed":
            found.append(FraudLogEntry.reviewed_at.is_not(None))
        return found

    def as_args(self, **changes: Any) -> dict[str, Any]:
        """The filter as query-string arguments (for pagination links and the export)."""
        values = {
            "customer_id": self.customer_id,
            "type": self.type,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "reviewed": self.reviewed,
            "page": self.page if self.page > 1 else None,
            **changes,
        }
        return {key: value for key, value in values.items() if value}


def fraud_log(filters: FraudFilter, per_page: int = FRAUD_PER_PAGE) -> dict[str, Any]:
    """API.md `get-fraud-log`: newest first, `next_page` null on the last page."""
    rows = db.session.execute(
        select(FraudLogEntry, Customer.company_name, User.email)
        .outerjoin(Customer, Customer.id == FraudLogEntry.customer_id)
        .outerjoin(User, User.id == FraudLogEntry.reviewed_by)
        .where(*filters.conditions())
        .order_by(FraudLogEntry.created_at.desc(), FraudLogEntry.id.desc())
        .offset((filters.page - 1) * per_page)
        .limit(per_page + 1)
    ).all()
    items = [fraud_item(entry, name or "", email) for entry, name, email in rows[:per_page]]
    return {
        "items": items,
        "page": filters.page,
        "next_page": filters.page + 1 if len(rows) > per_page else None,
    }


def mark_reviewed(raw_ids: list[Any], admin_id: int, via: str = "page") -> int:
    """Mark entries as reviewed by this admin (entries already reviewed keep their first
    review). Returns how many changed. Commits, with one audit entry."""
    ids = []
    for raw in raw_ids:
        value = parse_positive_int(raw, "ids")
        if value is not None:
            ids.append(value)
    ids = sorted(set(ids))
    if not ids:
        message = _("Choose at least one entry.")
        raise ValidationFailed(message, fields={"ids": message})
    if len(ids) > MAX_REVIEW_IDS:
        message = _("At most %(n)s entries at once.", n=MAX_REVIEW_IDS)
        raise ValidationFailed(message, fields={"ids": message})
    changed = db.session.execute(
        update(FraudLogEntry)
        .where(FraudLogEntry.id.in_(ids), FraudLogEntry.reviewed_at.is_(None))
        .values(reviewed_at=utcnow(), reviewed_by=admin_id)
    ).rowcount
    record_audit(
        admin_id,
        "fraud.review",
        "fraud_log",
        ids[0] if len(ids) == 1 else None,
        {"via": via, "ids": ids, "changed": changed},
    )
    db.session.commit()
    return int(changed)
