"""What the customer dashboard and the customer API show. The live numbers come from the
aggregates only (never a recount), so the overview and its polling panel stay cheap however
many raw events there are; lists (participants, conversions, "why not counted") read raw rows
through indexes, a page at a time.

With a read replica (services/readonly.py) these reads go there: the panel, chart, "why not
counted", participant list and CSV may lag the primary by a moment. The program's own state
(on/off, code) is read from the primary, so a switch shows at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from ..core import crypto, readonly
from ..core.errors import DomainError, NotFound, ValidationFailed
from ..core.formats import iso, percent
from ..extensions import db
from ..models import (
    CONFIRMED_STATUS,
    COUNTERS,
    PENDING_STATUS,
    STATUS_BLOCKED,
    STATUS_DUPLICATE,
    STATUS_TRACKED,
    UNSUBSCRIBED_STATUS,
    Click,
    Conversion,
    Customer,
    DailyStats,
    OutgoingMail,
    Participant,
    RewardGrant,
    RewardMilestone,
    utcnow,
)
from ..tracking import stats

CHART_DAYS = 30
MAX_RANGE_DAYS = 366
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
NOT_COUNTED_DAYS = 30
NOT_COUNTED_SCAN = 500
PARTICIPANT_STATUSES = (PENDING_STATUS, CONFIRMED_STATUS, UNSUBSCRIBED_STATUS)


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
            name: stats.trend(this_week[name], week_before[name])
            for name in ("clicks", "conversions", "leads")
        },
    }


# --- the live panel ------------------------------------------------------------------------


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


CHART_WIDTH = 640
CHART_HEIGHT = 200
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 40, 10, 12, 26
CHART_SERIES = ("clicks", "conversions", "leads")


def _nice_ceiling(value: int) -> int:
    """A round upper bound for the y axis (1, 2, 5 × 10^n)."""
    if value <= 4:
        return max(value, 1) if value > 1 else 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def chart(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of the 30-day line chart, for a server-rendered SVG (no chart library)."""
    top = _nice_ceiling(max((day[name] for day in series for name in CHART_SERIES), default=0))
    inner_w = CHART_WIDTH - _PAD_LEFT - _PAD_RIGHT
    inner_h = CHART_HEIGHT - _PAD_TOP - _PAD_BOTTOM
    step = inner_w / max(len(series) - 1, 1)

    def x(index: int) -> float:
        return round(_PAD_LEFT + index * step, 1)

    def y(value: int) -> float:
        return round(_PAD_TOP + inner_h - value / top * inner_h, 1)

    lines = {
        name: " ".join(f"{x(i)},{y(day[name])}" for i, day in enumerate(series))
        for name in CHART_SERIES
    }
    gridlines = [{"y": y(v), "label": v} for v in sorted({0, top // 2, top})]
    label_at = sorted({0, len(series) // 2, len(series) - 1}) if series else []
    last = len(series) - 1
    ticks = [
        {
            "x": x(i),
            "label": series[i]["date"][5:],
            "anchor": "start" if i == 0 else ("end" if i == last else "middle"),
        }
        for i in label_at
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": _PAD_LEFT,
        "right": CHART_WIDTH - _PAD_RIGHT,
        "baseline": y(0),
        "tick_y": CHART_HEIGHT - 8,
        "lines": lines,
        "gridlines": gridlines,
        "ticks": ticks,
        "top": top,
    }


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


# --- "Why wasn't this counted?" -------------------------------------------------------------

REASONS = {
    "duplicate": _l("Already counted: this visitor used this link within the last 24 hours."),
    "bot_user_agent": _l("A bot or automated browser, not a person."),
    "click_rate_limit": _l("Rate limit: too many clicks from this visitor in a short time."),
    "ip_daily_limit": _l("Rate limit: too many clicks from one network (IP address) today."),
    "conversion_rate_limit": _l(
        "Rate limit: more than one conversion from one network within 24 hours."
    ),
    "fast_conversion": _l("Too fast: under 5 seconds between the click and the conversion."),
    "no_prior_click": _l("No prior click: the visitor never clicked a referral link."),
    "duplicate_fingerprint": _l("The same device was already counted."),
    "self_referral": _l("Self-referral: a participant used their own link."),
    "disposable_email": _l("A throwaway e-mail address."),
    "alias_email": _l("A near-identical copy of an existing participant's e-mail address."),
    "velocity": _l("Unusually many conversions for one participant within an hour."),
    "program_inactive": _l("The program was switched off at the time."),
}


def reason_text(code: str | None) -> str:
    """The plain-language reason for a rule's code; unknown codes are still named."""
    if code in REASONS:
        return str(REASONS[code])
    return str(_l("Held back by the rule “%(code)s”.", code=code or "?"))


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


# --- cursors ---------------------------------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    """An opaque cursor: the last id of the page, encoded (clients must not build them)."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "id":
            raise ValueError(raw)
        value = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            str(_l("This cursor is not valid.")),
            code="invalid_cursor",
            fields={"cursor": str(_l("invalid"))},
        ) from exc
    return value


def page_size(raw: Any, default: int = PAGE_SIZE) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            str(_l("'limit' must be between 1 and %(n)d.", n=MAX_PAGE_SIZE)),
            code="invalid_limit",
            fields={"limit": str(_l("1 to %(n)d", n=MAX_PAGE_SIZE))},
        )
    return value


# --- participants ----------------------------------------------------------------------------


def normalise_search_email(text: str) -> str:
    """The searched address in the form sign-up stored and hashed (participants service),
    so an exact search finds it however it was typed."""
    from ..participants.addresses import normalise_email

    try:
        return normalise_email(text)
    except DomainError:
        return text.strip().lower()


def _participant_query(customer_id: int, status: str | None, q: str | None):
    query = select(Participant).where(Participant.customer_id == customer_id)
    if status:
        if status not in PARTICIPANT_STATUSES:
            raise ValidationFailed(
                str(_l("Unknown status.")),
                code="invalid_status",
                fields={"status": ", ".join(PARTICIPANT_STATUSES)},
            )
        query = query.where(Participant.status == status)
    q = (q or "").strip()
    if q:
        # The address is stored encrypted: only an exact match on its keyed hash can find it.
        email_hash = crypto.keyed_hash("email", normalise_search_email(q))
        query = query.where(
            or_(Participant.email_hash == email_hash, Participant.ref_code == q.upper())
        )
    return query


def _rewards_of(
    session: readonly.Reader, participant_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    if not participant_ids:
        return {}
    rows = session.execute(
        select(RewardGrant.participant_id, RewardGrant.earned_at, RewardMilestone)
        .join(RewardMilestone, RewardMilestone.id == RewardGrant.reward_id)
        .where(RewardGrant.participant_id.in_(participant_ids), RewardGrant.revoked_at.is_(None))
        .order_by(RewardMilestone.threshold)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for pid, earned_at, milestone in rows:
        found.setdefault(pid, []).append(
            {
                "id": milestone.id,
                "tier": milestone.tier,
                "title": milestone.title,
                "threshold": milestone.threshold,
                "earned_at": iso(earned_at),
            }
        )
    return found


def _participant_item(participant: Participant, rewards: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": participant.id,
        "email": crypto.decrypt(participant.email_encrypted),
        "name": crypto.decrypt(participant.name_encrypted),
        "ref_code": participant.ref_code,
        "status": participant.status,
        "referrals": participant.referrals,
        "clicks": participant.clicks,
        "conversions": participant.conversions,
        "suspicious_conversions": participant.suspicious_conversions,
        "rewards": rewards,
        "created_at": iso(participant.created_at),
        "confirmed_at": iso(participant.confirmed_at),
    }


def list_participants(
    customer_id: int,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of the customer's participants, newest first, with referrals and rewards."""
    query = _participant_query(customer_id, status, q)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Participant.id < after)
    reader = readonly.session()
    rows = list(reader.scalars(query.order_by(Participant.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    rewards = _rewards_of(reader, [p.id for p in rows])
    return {
        "items": [_participant_item(p, rewards.get(p.id, [])) for p in rows],
        "next_cursor": encode_cursor(rows[-1].id) if more and rows else None,
    }


def get_participant(customer_id: int, participant_id: int) -> dict[str, Any]:
    """One participant of this customer; another customer's id is not found (no IDOR).
    From the primary: it guards an export or an erasure."""
    participant = db.session.get(Participant, participant_id)
    if participant is None or participant.customer_id != customer_id:
        raise NotFound(str(_l("No such participant.")))
    rewards = _rewards_of(db.session, [participant.id])
    return _participant_item(participant, rewards.get(participant.id, []))


CSV_COLUMNS = (
    "id",
    "email",
    "name",
    "ref_code",
    "status",
    "referrals",
    "rewards",
    "created_at",
    "confirmed_at",
)


def _csv_safe(value: Any) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: quote them as text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def participants_csv_rows(
    customer_id: int, status: str | None = None, q: str | None = None
) -> Iterator[list[str]]:
    """Every participant matching the filter, a header row first, read in batches. The
    filters are checked now, before a streamed response has started."""
    _participant_query(customer_id, status, q)
    return _csv_rows(customer_id, status, q)


def _csv_rows(customer_id: int, status: str | None, q: str | None) -> Iterator[list[str]]:
    yield list(CSV_COLUMNS)
    reader = readonly.session()
    after: int | None = None
    while True:
        query = _participant_query(customer_id, status, q)
        if after is not None:
            query = query.where(Participant.id < after)
        batch = list(reader.scalars(query.order_by(Participant.id.desc()).limit(500)))
        if not batch:
            return
        rewards = _rewards_of(reader, [p.id for p in batch])
        for participant in batch:
            item = _participant_item(participant, rewards.get(participant.id, []))
            item["rewards"] = "; ".join(f"{r['tier']}: {r['title']}" for r in item["rewards"])
            yield [_csv_safe(item[column]) for column in CSV_COLUMNS]
        after = batch[-1].id


# --- conversions and daily stats -------------------------------------------------------------


def parse_moment(raw: str | None, field: str) -> datetime | None:
    """YYYY-MM-DD or an ISO-8601 time (with Z or an offset), as naive UTC."""
    if not raw:
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            str(_l("Use a date like 2025-01-31 or a time like 2025-01-31T12:00:00Z.")),
            code="invalid_date",
            fields={field: str(_l("not a date"))},
        ) from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
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
    """Only the strict YYYY-MM-DD form; anything else is None (a validation error)."""
    text = raw.strip()
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
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
            str(_l("'from' must not be after 'to'.")),
            code="invalid_range",
            fields={"from": str(_l("after 'to'"))},
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(
            str(_l("At most %(n)d days at once.", n=MAX_RANGE_DAYS)),
            code="invalid_range",
            fields={"to": str(_l("at most %(n)d days after 'from'", n=MAX_RANGE_DAYS))},
        )
    keep = (
        "date",
        "clicks",
        "unique_clicks",
        "blocked_clicks",
        "conversions",
        "suspicious_conversions",
        "blocked_conversions",
        "leads",
        "confirmed_leads",
    )
    return [{name: day[name] for name in keep} for day in daily_rows(customer_id, start, end)]


STATUS_LABELS = {
    PENDING_STATUS: _l("pending"),
    CONFIRMED_STATUS: _l("confirmed"),
    UNSUBSCRIBED_STATUS: _l("unsubscribed"),
    STATUS_TRACKED: _l("counted"),
    STATUS_DUPLICATE: _l("duplicate"),
    STATUS_BLOCKED: _l("blocked"),
    "flagged": _l("flagged"),
}
