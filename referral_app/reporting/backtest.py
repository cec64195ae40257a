"""The rule backtest: replays one rule with another threshold over the stored raw events of
the last 90 days and says what it would have flagged, next to what the current threshold
flags on the same events and what the fraud log actually recorded, before anyone changes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, case, cast, func, or_, select

from ..core.errors import ValidationFailed
from ..core.formats import iso
from ..extensions import db
from ..models import (
    STATUS_BLOCKED,
    STATUS_TRACKED,
    Click,
    Conversion,
    Customer,
    FraudLogEntry,
    utcnow,
)
from .paging import parse_positive_int

BACKTEST_DAYS = 90
MAX_BACKTEST_DAYS = 365


@dataclass(frozen=True)
class Rule:
    """A fraud rule the backtest can replay: its threshold's config key and bounds."""

    name: str
    label: Any
    unit: Any
    config_key: str
    default: float
    minimum: float
    maximum: float
    integer: bool


RULES = {
    rule.name: rule
    for rule in (
        Rule(
            "fast_conversion",
            _l("Fast conversion"),
            _l("seconds from click to conversion (flagged below)"),
            "FRAUD_FAST_CONVERSION_SECONDS",
            5,
            0.1,
            3600,
            False,
        ),
        Rule(
            "ip_daily_limit",
            _l("Clicks per IP and day"),
            _l("clicks per IP address and day (flagged above)"),
            "FRAUD_IP_DAILY_CLICKS",
            10,
            1,
            100_000,
            True,
        ),
        Rule(
            "conversion_rate_limit",
            _l("Conversions per IP and day"),
            _l("conversions per IP address and day (flagged above)"),
            "FRAUD_CONVERSIONS_PER_IP",
            5,
            1,
            10_000,
            True,
        ),
    )
}


def current_threshold(rule: Rule) -> float:
    value = float(current_app.config.get(rule.config_key, rule.default))
    return int(value) if rule.integer else value


@dataclass(frozen=True)
class BacktestQuery:
    rule: Rule
    threshold: float
    days: int = BACKTEST_DAYS

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> BacktestQuery:
        name = str(args.get("rule") or "").strip()
        if name not in RULES:
            message = _("Choose one of the rules: %(rules)s.", rules=", ".join(RULES))
            raise ValidationFailed(message, fields={"rule": message})
        rule = RULES[name]
        raw = str(args.get("threshold") or "").strip().replace(",", ".")
        if not raw:
            threshold = current_threshold(rule)
        else:
            try:
                threshold = float(raw)
            except ValueError:
                threshold = math.nan
            if (
                not math.isfinite(threshold)
                or (rule.integer and threshold != int(threshold))
                or not rule.minimum <= threshold <= rule.maximum
            ):
                message = _(
                    "The threshold must be a number from %(low)s to %(high)s.",
                    low=_number(rule.minimum),
                    high=_number(rule.maximum),
                )
                raise ValidationFailed(message, fields={"threshold": message})
            threshold = int(threshold) if rule.integer else threshold
        days = parse_positive_int(args.get("days"), "days", default=BACKTEST_DAYS) or 1
        if days > MAX_BACKTEST_DAYS:
            message = _("At most %(n)s days.", n=MAX_BACKTEST_DAYS)
            raise ValidationFailed(message, fields={"days": message})
        return cls(rule=rule, threshold=threshold, days=days)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _day(column):
    return func.date(column, type_=String)


def _flags_per_customer(
    query: BacktestQuery, current: float, since: datetime
) -> dict[int, dict[str, int]]:
    """Per customer: events flagged at the candidate and at the current threshold, and for
    the IP rules the IP-days that went over the limit. One pass over the window."""

    def count_if(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    name = query.rule.name
    if name == "fast_conversion":
        seconds = Conversion.seconds_since_click
        statement = (
            select(
                Conversion.customer_id,
                count_if(seconds < query.threshold),
                count_if(seconds < current),
                func.count(),
            )
            .where(
                Conversion.created_at >= since,
                Conversion.status == STATUS_TRACKED,
                seconds.is_not(None),
            )
            .group_by(Conversion.customer_id)
        )
        return {
            customer_id: {
                "candidate": int(cand),
                "current": int(cur),
                "candidate_groups": 0,
                "current_groups": 0,
                "events": int(events),
            }
            for customer_id, cand, cur, events in db.session.execute(statement)
        }
    if name == "ip_daily_limit":
        # The attempts that reached the per-IP check: counted clicks and those the limit
        # held back (duplicates and clicks blocked by another rule never reach it). The live
        # rule counts an IP across programs; stored IP hashes are per program, so the replay
        # sees each program's share (a lower bound).
        model: Any = Click
        attempts = or_(Click.status == STATUS_TRACKED, Click.reason == name)
        partition = [Click.ip_hash, _day(Click.created_at)]
    else:
        # The engine counts conversions per IP within one program.
        model = Conversion
        attempts = or_(
            Conversion.status == STATUS_TRACKED,
            and_(
                Conversion.status == STATUS_BLOCKED,
                cast(Conversion.reasons, String).like(f'%"{name}"%'),
            ),
        )
        partition = [Conversion.customer_id, Conversion.ip_hash, _day(Conversion.created_at)]
    # Each IP hash's attempts on one UTC day in time order: those after the first
    # `threshold` are the ones the limit holds back.
    position = (
        func.row_number()
        .over(partition_by=partition, order_by=[model.created_at, model.id])
        .label("position")
    )
    ranked = (
        select(model.customer_id.label("customer_id"), position)
        .where(model.created_at >= since, attempts)
        .subquery()
    )
    statement = select(
        ranked.c.customer_id,
        count_if(ranked.c.position > query.threshold),
        count_if(ranked.c.position > current),
        count_if(ranked.c.position == int(query.threshold) + 1),
        count_if(ranked.c.position == int(current) + 1),
        func.count(),
    ).group_by(ranked.c.customer_id)
    return {
        customer_id: {
            "candidate": int(cand),
            "current": int(cur),
            "candidate_groups": int(cand_groups),
            "current_groups": int(cur_groups),
            "events": int(events),
        }
        for customer_id, cand, cur, cand_groups, cur_groups, events in db.session.execute(statement)
    }


def backtest(query: BacktestQuery, top: int = 10) -> dict[str, Any]:
    """What `query.rule` at `query.threshold` would have flagged over the stored events of
    the last `query.days` days, against the current threshold and the logged entries.

    Replay semantics, as the tracking engine decides: fast_conversion flags counted
    conversions whose click was less than `threshold` seconds earlier. The IP rules take the
    attempts that reached their check (counted events, and those the rule itself blocked),
    per IP hash and UTC day (conversions also per program), in time order, and flag those
    after the first `threshold`; the engine's conversion window runs 24 hours from the IP's
    first conversion, which stored hashes (salted per day) can only approximate by the day.
    Events the monthly cleanup already removed cannot be replayed."""
    now = utcnow()
    since = now - timedelta(days=query.days)
    current = current_threshold(query.rule)
    per_customer = _flags_per_customer(query, current, since)

    def total(key: str) -> int:
        return sum(values[key] for values in per_customer.values())

    logged = db.session.scalar(
        select(func.count(FraudLogEntry.id)).where(
            FraudLogEntry.type == query.rule.name, FraudLogEntry.created_at >= since
        )
    )
    ranked = sorted(
        (item for item in per_customer.items() if item[1]["candidate"] or item[1]["current"]),
        key=lambda item: (-item[1]["candidate"], -item[1]["current"], item[0]),
    )[:top]
    names = dict(
        db.session.execute(
            select(Customer.id, Customer.company_name).where(
                Customer.id.in_([customer_id for customer_id, _values in ranked])
            )
        ).all()
    )
    ip_rule = query.rule.name != "fast_conversion"
    return {
        "rule": query.rule.name,
        "threshold": query.threshold,
        "current_threshold": current,
        "days": query.days,
        "since": iso(since),
        "events": total("events"),
        "candidate": {
            "flagged": total("candidate"),
            "ip_days": total("candidate_groups") if ip_rule else None,
            "customers": sum(1 for values in per_customer.values() if values["candidate"]),
        },
        "current": {
            "flagged": total("current"),
            "ip_days": total("current_groups") if ip_rule else None,
            "customers": sum(1 for values in per_customer.values() if values["current"]),
        },
        "difference": total("candidate") - total("current"),
        "logged": int(logged or 0),
        "by_customer": [
            {
                "customer_id": customer_id,
                "company_name": names.get(customer_id, ""),
                "candidate": values["candidate"],
                "current": values["current"],
                "events": values["events"],
            }
            for customer_id, values in ranked
        ],
    }


def rule_choices() -> list[dict[str, Any]]:
    """The rules for the backtest form, with their current thresholds."""
    return [
        {
            "name": rule.name,
            "label": str(rule.label),
            "unit": str(rule.unit),
            "current": current_threshold(rule),
            "minimum": rule.minimum,
            "maximum": rule.maximum,
            "step": 1 if rule.integer else 0.1,
        }
        for rule in RULES.values()
    ]
