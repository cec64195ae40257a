"""`flask stats rebuild [--check]`: every aggregate recomputed from the raw events plus the
archive, compared with (or written over) what the counters say. Zero differences is the
proof that O(1) counting on the hot path stays exact.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import String, case, delete, func, select

from ..extensions import db
from ..models import (
    COUNTERS,
    STATUS_BLOCKED,
    STATUS_TRACKED,
    ArchivedCounts,
    Click,
    Conversion,
    Customer,
    CustomerStats,
    DailyStats,
    Participant,
)
from ..rewards import ledger as rewards
from .stats import PARTICIPANT_COUNTERS


def _day(column):
    """The UTC day of a timestamp: DATE() exists on SQLite (as text) and MariaDB."""
    return func.date(column, type_=String)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def recompute() -> tuple[
    dict[int, dict[str, int]], dict[tuple[int, date], dict[str, int]], dict[int, dict[str, int]]
]:
    """Totals, daily rows and participant counters as the raw events (and the archive of
    deleted ones) say they should be."""
    total: dict[int, dict[str, int]] = {}
    daily: dict[tuple[int, date], dict[str, int]] = {}

    def add(customer_id: int, day: Any, name: str, n: int) -> None:
        if not n:
            return
        if isinstance(day, str):
            day = date.fromisoformat(day)
        elif isinstance(day, datetime):
            day = day.date()
        total.setdefault(customer_id, dict.fromkeys(COUNTERS, 0))[name] += int(n)
        daily.setdefault((customer_id, day), dict.fromkeys(COUNTERS, 0))[name] += int(n)

    click_day = _day(Click.created_at)
    for customer_id, day, clicks, unique, blocked in db.session.execute(
        select(
            Click.customer_id,
            click_day,
            _count_if(Click.status != STATUS_BLOCKED),
            _count_if(Click.status == STATUS_TRACKED),
            _count_if(Click.status == STATUS_BLOCKED),
        ).group_by(Click.customer_id, click_day)
    ):
        add(customer_id, day, "clicks", clicks)
        add(customer_id, day, "unique_clicks", unique)
        add(customer_id, day, "blocked_clicks", blocked)

    conv_day = _day(Conversion.created_at)
    counted = Conversion.status == STATUS_TRACKED
    for customer_id, day, conversions, suspicious, blocked in db.session.execute(
        select(
            Conversion.customer_id,
            conv_day,
            _count_if(counted),
            _count_if(counted & Conversion.suspicious.is_(True)),
            _count_if(Conversion.status == STATUS_BLOCKED),
        ).group_by(Conversion.customer_id, conv_day)
    ):
        add(customer_id, day, "conversions", conversions)
        add(customer_id, day, "suspicious_conversions", suspicious)
        add(customer_id, day, "blocked_conversions", blocked)

    lead_day = _day(Participant.created_at)
    for customer_id, day, leads in db.session.execute(
        select(Participant.customer_id, lead_day, func.count()).group_by(
            Participant.customer_id, lead_day
        )
    ):
        add(customer_id, day, "leads", leads)
    confirmed_day = _day(Participant.confirmed_at)
    for customer_id, day, confirmed in db.session.execute(
        select(Participant.customer_id, confirmed_day, func.count())
        .where(Participant.confirmed_at.is_not(None))
        .group_by(Participant.customer_id, confirmed_day)
    ):
        add(customer_id, day, "confirmed_leads", confirmed)

    participants: dict[int, dict[str, int]] = {}
    for pid, clicks, unique in db.session.execute(
        select(
            Click.participant_id,
            _count_if(Click.status != STATUS_BLOCKED),
            _count_if(Click.status == STATUS_TRACKED),
        )
        .where(Click.participant_id.is_not(None))
        .group_by(Click.participant_id)
    ):
        entry = participants.setdefault(pid, dict.fromkeys(PARTICIPANT_COUNTERS, 0))
        entry["clicks"], entry["unique_clicks"] = int(clicks), int(unique)
    for pid, conversions, suspicious in db.session.execute(
        select(
            Conversion.participant_id,
            _count_if(counted),
            _count_if(counted & Conversion.suspicious.is_(True)),
        )
        .where(Conversion.participant_id.is_not(None))
        .group_by(Conversion.participant_id)
    ):
        entry = participants.setdefault(pid, dict.fromkeys(PARTICIPANT_COUNTERS, 0))
        entry["conversions"], entry["suspicious_conversions"] = int(conversions), int(suspicious)

    for row in db.session.scalars(select(ArchivedCounts)):
        for name in COUNTERS:
            add(row.customer_id, row.day, name, getattr(row, name))
        if row.participant_id:
            entry = participants.setdefault(
                row.participant_id, dict.fromkeys(PARTICIPANT_COUNTERS, 0)
            )
            for name in PARTICIPANT_COUNTERS:
                entry[name] += getattr(row, name)
    return total, daily, participants


def rebuild(check: bool = False) -> dict[str, Any]:
    """Compare (and unless `check`, replace) every aggregate with the recount.

    Returns a summary with the number of differences found; deleted participants' past
    events stay in the customer aggregates (their rows keep customer_id), as they should.
    """
    want_total, want_daily, want_participants = recompute()
    differences: list[dict[str, Any]] = []

    customer_ids = set(db.session.scalars(select(Customer.id)))
    have_total = {row.customer_id: row for row in db.session.scalars(select(CustomerStats))}
    for customer_id in customer_ids | set(have_total):
        want = want_total.get(customer_id, dict.fromkeys(COUNTERS, 0))
        row = have_total.get(customer_id)
        have = {name: (getattr(row, name) if row else 0) for name in COUNTERS}
        if want != have:
            differences.append(
                {"table": "referral_stats", "customer_id": customer_id, "have": have, "want": want}
            )

    have_daily = {(row.customer_id, row.day): row for row in db.session.scalars(select(DailyStats))}
    for key in set(want_daily) | set(have_daily):
        want = want_daily.get(key, dict.fromkeys(COUNTERS, 0))
        row = have_daily.get(key)
        have = {name: (getattr(row, name) if row else 0) for name in COUNTERS}
        if want != have:
            differences.append(
                {
                    "table": "referral_daily_stats",
                    "customer_id": key[0],
                    "day": key[1].isoformat(),
                    "have": have,
                    "want": want,
                }
            )

    for participant in db.session.scalars(select(Participant)):
        want = want_participants.get(participant.id, dict.fromkeys(PARTICIPANT_COUNTERS, 0))
        have = {name: getattr(participant, name) for name in PARTICIPANT_COUNTERS}
        if want != have:
            differences.append(
                {
                    "table": "referral_leads",
                    "participant_id": participant.id,
                    "have": have,
                    "want": want,
                }
            )

    if not check and differences:
        _replace(customer_ids, want_total, want_daily, want_participants)
    referrals = {
        pid: values["conversions"] - values["suspicious_conversions"]
        for pid, values in want_participants.items()
    }
    ledger = rewards.sync_ledger(check=check, referrals=referrals)
    summary: dict[str, Any] = {
        "ok": not differences and not ledger["differences"],
        "checked": check,
        "differences": len(differences) + ledger["differences"],
        "customers": len(customer_ids),
        "daily_rows": len(want_daily),
        "reward_grants": ledger,
        "details": differences[:20],
    }
    if not check:
        summary["ok"] = True
        summary["fixed"] = len(differences) + ledger["differences"]
    return summary


def _replace(customer_ids: set[int], want_total, want_daily, want_participants) -> None:
    session = db.session
    session.execute(delete(DailyStats))
    session.execute(delete(CustomerStats))
    for customer_id in customer_ids:
        values = want_total.get(customer_id, dict.fromkeys(COUNTERS, 0))
        session.add(CustomerStats(customer_id=customer_id, **values))
    for (customer_id, day), values in want_daily.items():
        if customer_id in customer_ids:
            session.add(DailyStats(customer_id=customer_id, day=day, **values))
    table = Participant.__table__
    session.execute(table.update().values(dict.fromkeys(PARTICIPANT_COUNTERS, 0)))
    for pid, values in want_participants.items():
        session.execute(table.update().where(table.c.id == pid).values(**values))
    session.commit()
