""" "Why wasn't this counted?": the customer's recent events that did not count, with the reason
in the customer's words (their own program's events only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from ..core import readonly
from ..models import (
    CONFIRMED_STATUS,
    PENDING_STATUS,
    STATUS_BLOCKED,
    STATUS_DUPLICATE,
    STATUS_TRACKED,
    UNSUBSCRIBED_STATUS,
    Click,
    Conversion,
    utcnow,
)
from .fraud_labels import reason_text

NOT_COUNTED_DAYS = 30
NOT_COUNTED_SCAN = 500


def _latest(model, customer_id: int, since: datetime):
    """The ids of the customer's latest NOT_COUNTED_SCAN events since `since`: an index-only
    range on (customer_id, created_at), so the panel reads a bounded number of rows however
    much traffic a program has."""
    return (
        select(model.id)
        .where(model.customer_id == customer_id, model.created_at >= since)
        .order_by(model.created_at.desc())
        .limit(NOT_COUNTED_SCAN)
        .subquery()
    )


def not_counted(customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Recent clicks and conversions that were not counted or were flagged, newest first,
    each with its reasons: among the latest NOT_COUNTED_SCAN clicks and conversions of the
    last 30 days, at most `limit` of each."""
    since = utcnow() - timedelta(days=NOT_COUNTED_DAYS)
    entries: list[dict[str, Any]] = []
    reader = readonly.session()
    latest_clicks = _latest(Click, customer_id, since)
    # Plain columns, not ORM objects: this runs on every overview view.
    clicks = reader.execute(
        select(Click.id, Click.created_at, Click.ref_code, Click.status, Click.reason)
        .join(latest_clicks, latest_clicks.c.id == Click.id)
        .where(Click.status != STATUS_TRACKED)
        .order_by(Click.created_at.desc())
        .limit(limit)
    )
    for click in clicks:
        code = click.reason or ("duplicate" if click.status == STATUS_DUPLICATE else None)
        entries.append(
            {
                "kind": "click",
                "id": click.id,
                "at": click.created_at,
                "ref_code": click.ref_code,
                "status": click.status,
                "codes": [code] if code else [],
                "reasons": [reason_text(code)],
            }
        )
    latest_conversions = _latest(Conversion, customer_id, since)
    conversions = reader.execute(
        select(
            Conversion.id,
            Conversion.created_at,
            Conversion.ref_code,
            Conversion.status,
            Conversion.reasons,
        )
        .join(latest_conversions, latest_conversions.c.id == Conversion.id)
        .where(or_(Conversion.status != STATUS_TRACKED, Conversion.suspicious.is_(True)))
        .order_by(Conversion.created_at.desc())
        .limit(limit)
    )
    for conversion in conversions:
        codes = list(conversion.reasons or [])
        if conversion.status == STATUS_DUPLICATE and not codes:
            codes = ["duplicate"]
        status = conversion.status if conversion.status != STATUS_TRACKED else "flagged"
        entries.append(
            {
                "kind": "conversion",
                "id": conversion.id,
                "at": conversion.created_at,
                "ref_code": conversion.ref_code,
                "status": status,
                "codes": codes,
                "reasons": [reason_text(c) for c in codes] or [reason_text(None)],
            }
        )
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return entries[:limit]


STATUS_LABELS = {
    PENDING_STATUS: _l("pending"),
    CONFIRMED_STATUS: _l("confirmed"),
    UNSUBSCRIBED_STATUS: _l("unsubscribed"),
    STATUS_TRACKED: _l("counted"),
    STATUS_DUPLICATE: _l("duplicate"),
    STATUS_BLOCKED: _l("blocked"),
    "flagged": _l("flagged"),
}
