"""The audit trail: every admin action on a program or a participant, who did it, and why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..core.formats import iso
from ..extensions import db
from ..models import (
    ROLE_ADMIN,
    AuditEntry,
    User,
)
from .paging import parse_positive_int

AUDIT_PER_PAGE = 50


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
