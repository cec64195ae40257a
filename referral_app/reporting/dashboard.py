"""What the customer dashboard and the customer API show. The live numbers come from the
aggregates only (never a recount), so the overview and its polling panel stay cheap however
many raw events there are; lists (participants, conversions, "why not counted") read raw rows
through indexes, a page at a time.

With a read replica (core/readonly.py) these reads go there: the panel, chart, "why not
counted", participant list and CSV may lag the primary by a moment. The program's own state
(on/off, code) is read from the primary, so a switch shows at once."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ..core import readonly
from ..core.errors import ValidationFailed
from ..core.formats import iso, parse_date, percent
from ..extensions import db
from ..models import (
    COUNTERS,
    TREND_COUNTERS,
    Conversion,
    Customer,
    DailyStats,
    OutgoingMail,
)
from ..participants.throttle import HOURLY_LIMIT_MARK
from ..tracking import stats
from .paging import decode_cursor, encode_cursor

CHART_DAYS = 30
MAX_RANGE_DAYS = 366


def daily_rows(customer_id: int, first: date, last: date) -> list[dict[str, Any]]:
    """stats.daily_series as plain column reads (no ORM objects): one entry per day in
    [first, last], zeros included, oldest first. The dashboard's hot read."""
    columns = [getattr(DailyStats, name) for name in COUNTERS]
    rows = readonly.session().execute(
        select(DailyStats.day, *columns).where(
            DailyStats.customer_id == customer_id, DailyStats.day >= first, DailyStats.day <= last
        )
    )
    by_day = {row[0]: row[1:] for row in rows}
    zeros = (0,) * len(COUNTERS)
    series = []
    day = first
    while day <= last:
        values = by_day.get(day, zeros)
        series.append({"date": day.isoformat(), **dict(zip(COUNTERS, values, strict=True))})
        day += timedelta(days=1)
    return series


def _window(series: list[dict[str, Any]], first: date, last: date) -> dict[str, int]:
    lo, hi = first.isoformat(), last.isoformat()
    days = [day for day in series if lo <= day["date"] <= hi]
    return {name: sum(day[name] for day in days) for name in COUNTERS}


def program_stats(customer_id: int, series: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """API.md `get-stats`: totals, last 30 days (today included) and the 7-day trend.

    One read of the 30-day rollup gives the window and both trend weeks; with the totals row
    and the customer that is three indexed reads, whatever the number of raw events. The
    numbers may come from the replica; the customer row (`enabled`) is the primary's."""
    customer = db.session.get(Customer, customer_id)
    today = stats.today()
    if series is None:
        series = daily_rows(customer_id, today - timedelta(days=CHART_DAYS - 1), today)
    last_30 = _window(series, today - timedelta(days=29), today)
    this_week = _window(series, today - timedelta(days=6), today)
    week_before = _window(series, today - timedelta(days=13), today - timedelta(days=7))
    return {
        "customer_id": customer_id,
        "ref_code": customer.ref_code,
        "enabled": customer.program_active,
        "totals": stats.with_rate(stats.totals(customer_id)),
        "last_30_days": stats.with_rate(last_30),
        "trend_7d": {
            name: stats.trend(this_week[name], week_before[name]) for name in TREND_COUNTERS
        },
    }


def live_panel(customer_id: int) -> dict[str, Any]:
    """Everything the stats panel shows: `get-stats`, shares and the 30-day series. Reads
    only the aggregates: one range read of the daily rollup and the totals row."""
    today = stats.today()
    series = daily_rows(customer_id, today - timedelta(days=CHART_DAYS - 1), today)
    data = program_stats(customer_id, series)
    last = data["last_30_days"]
    data["shares"] = {
        "suspicious": percent(last["suspicious_conversions"], last["conversions"]),
        "confirmed": percent(last["confirmed_leads"], last["leads"]),
    }
    data["series"] = [
        {
            "date": day["date"],
            "clicks": day["clicks"],
            "conversions": day["conversions"],
            "leads": day["leads"],
        }
        for day in series
    ]
    data["today"] = today.isoformat()
    return data


def panel_etag(panel: dict[str, Any], locale: str) -> str:
    """Changes exactly when what the panel shows changes (numbers, state, day, language)."""
    raw = json.dumps(panel, sort_keys=True, default=str) + "|" + locale
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def failed_mail_count(customer_id: int) -> int:
    """E-mails that could not be sent even after every retry (index customer, status)."""
    return int(
        readonly.session().scalar(
            select(func.count())
            .select_from(OutgoingMail)
            .where(OutgoingMail.customer_id == customer_id, OutgoingMail.status == "failed")
        )
        or 0
    )


def waiting_signup_mail_count(customer_id: int) -> int:
    """Sign-up mails waiting because the program sent its hourly number of them (a burst
    of sign-ups, real or not: participants/throttle.py)."""
    return int(
        readonly.session().scalar(
            select(func.count())
            .select_from(OutgoingMail)
            .where(
                OutgoingMail.customer_id == customer_id,
                OutgoingMail.status == "pending",
                OutgoingMail.last_error == HOURLY_LIMIT_MARK,
            )
        )
        or 0
    )


def parse_moment(raw: str | None, field: str) -> datetime | None:
    """YYYY-MM-DD or an ISO-8601 time (with Z or an offset), as naive UTC."""
    if not raw:
        return None
    try:
        moment = parse_date(raw, times=True)
    except ValueError as exc:
        raise ValidationFailed(
            str(_l("Use a date like 2025-01-31 or a time like 2025-01-31T12:00:00Z.")),
            code="invalid_date",
            fields={field: str(_l("not a date"))},
        ) from exc
    if not isinstance(moment, datetime):
        return datetime.combine(moment, datetime.min.time())
    return moment


def list_conversions(
    customer_id: int, since: str | None = None, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """The customer's conversions since a time, oldest first, so an integration can page
    forward and later continue from its last cursor."""
    query = select(Conversion).where(Conversion.customer_id == customer_id)
    start = parse_moment(since, "since")
    if start is not None:
        query = query.where(Conversion.created_at >= start)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Conversion.id > after)
    rows = list(db.session.scalars(query.order_by(Conversion.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [
            {
                "id": c.id,
                "ref_code": c.ref_code,
                "status": c.status,
                "suspicious": bool(c.suspicious),
                "reasons": list(c.reasons or []),
                "participant_id": c.participant_id,
                "created_at": iso(c.created_at),
            }
            for c in rows
        ],
        "next_cursor": encode_cursor(rows[-1].id) if more and rows else None,
    }


def _parse_day(raw: str) -> date | None:
    """Only the strict YYYY-MM-DD form, in the bounded range; else None (a validation error)."""
    try:
        return parse_date(raw)
    except ValueError:
        return None


def daily_stats(customer_id: int, first: str | None, last: str | None) -> list[dict[str, Any]]:
    """Daily rollup rows for [from, to] (default: the last 30 days), zeros included."""
    today = stats.today()
    errors: dict[str, str] = {}
    start = _parse_day(first) if first else today - timedelta(days=CHART_DAYS - 1)
    end = _parse_day(last) if last else today
    if start is None:
        errors["from"] = str(_l("Use a date like 2025-01-31."))
    if end is None:
        errors["to"] = str(_l("Use a date like 2025-01-31."))
    if errors:
        raise ValidationFailed(
            str(_l("Use dates like 2025-01-31.")), code="invalid_date", fields=errors
        )
    assert start is not None and end is not None
    if start > end:
        raise ValidationFailed(
            str(_l("The start date must not be after the end date.")),
            code="invalid_range",
            fields={"from": str(_l("after the end date"))},
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            str(_l("At most %(n)d days at once.", n=MAX_RANGE_DAYS)),
            code="invalid_range",
            fields={"to": str(_l("at most %(n)d days after the start date", n=MAX_RANGE_DAYS))},
        )
    keep = ("date", *COUNTERS)
    return [{name: day[name] for name in keep} for day in daily_rows(customer_id, start, end)]
