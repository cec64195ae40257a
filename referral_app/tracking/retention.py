"""Data retention (DESIGN.md "Privacy"): raw events past RAW_EVENT_RETENTION_DAYS are
deleted, their counts kept in the stats archive; hash salts older than the previous period
are deleted, so older visitor hashes can no longer be linked to anyone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import String, case, delete, func, select

from ..core.sqlutil import begin_write
from ..extensions import db
from ..models import (
    STATUS_BLOCKED,
    STATUS_TRACKED,
    Click,
    Conversion,
    FraudLogEntry,
    HashSalt,
    ParticipantDevice,
    utcnow,
)
from . import stats
from . import visitor as visitor_service

BATCH = 5000


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Midnight UTC RAW_EVENT_RETENTION_DAYS ago: older events go."""
    days = int(current_app.config.get("RAW_EVENT_RETENTION_DAYS", 180))
    return datetime.combine((now or utcnow()).date() - timedelta(days=days), time.min)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _archive_and_delete(model, counters, cutoff: datetime) -> int:
    """Fold one batch after another of `model` rows older than `cutoff` into the archive
    (per customer, day and participant) and delete them, each batch in one transaction."""
    deleted = 0
    day = func.date(model.created_at, type_=String)
    participant = func.coalesce(model.participant_id, 0)
    while True:
        begin_write(db.session())
        ids = db.session.scalars(
            select(model.id).where(model.created_at < cutoff).order_by(model.id).limit(BATCH)
        ).all()
        if not ids:
            db.session.commit()
            return deleted
        in_batch = (model.created_at < cutoff) & (model.id <= ids[-1])
        rows = db.session.execute(
            select(model.customer_id, day, participant, *[c for _n, c in counters])
            .where(in_batch)
            .group_by(model.customer_id, day, participant)
        ).all()
        for customer_id, row_day, participant_id, *values in rows:
            stats.archive(
                db.session,
                customer_id,
                _as_date(row_day),
                int(participant_id),
                **{name: int(v) for (name, _c), v in zip(counters, values, strict=True)},
            )
        deleted += db.session.execute(delete(model).where(in_batch)).rowcount
        db.session.commit()


def delete_old_events(now: datetime | None = None) -> dict[str, Any]:
    """The monthly cleanup: clicks and conversions past retention move into the archive,
    fraud-log entries past retention are deleted. Aggregates stay exactly as they were."""
    cutoff = retention_cutoff(now)
    clicks = _archive_and_delete(
        Click,
        [
            ("clicks", _count_if(Click.status != STATUS_BLOCKED)),
            ("unique_clicks", _count_if(Click.status == STATUS_TRACKED)),
            ("blocked_clicks", _count_if(Click.status == STATUS_BLOCKED)),
        ],
        cutoff,
    )
    counted = Conversion.status == STATUS_TRACKED
    conversions = _archive_and_delete(
        Conversion,
        [
            ("conversions", _count_if(counted)),
            ("suspicious_conversions", _count_if(counted & Conversion.suspicious.is_(True))),
            ("blocked_conversions", _count_if(Conversion.status == STATUS_BLOCKED)),
        ],
        cutoff,
    )
    fraud = 0
    while True:
        begin_write(db.session())
        ids = db.session.scalars(
            select(FraudLogEntry.id).where(FraudLogEntry.created_at < cutoff).limit(BATCH)
        ).all()
        if ids:
            fraud += db.session.execute(
                delete(FraudLogEntry).where(FraudLogEntry.id.in_(ids))
            ).rowcount
        db.session.commit()
        if len(ids) < BATCH:
            break
    return {
        "cutoff": cutoff.isoformat() + "Z",
        "clicks_deleted": clicks,
        "conversions_deleted": conversions,
        "fraud_log_deleted": fraud,
    }


def rotate_salts(now: datetime | None = None) -> dict[str, int]:
    """Delete every salt older than the previous period (and the participants' device
    hashes made with them): hashes from before can never be linked again."""
    visitor_service.forget_cached_salts()  # this process's cache may predate a restore
    (current_id, _salt), _previous = visitor_service.salts(now)
    hours = max(1, int(current_app.config.get("SALT_ROTATION_HOURS", 24)))
    begin_write(db.session())
    current = db.session.get(HashSalt, current_id)
    keep_from = current.period_start - timedelta(hours=hours)
    old = db.session.scalars(select(HashSalt.id).where(HashSalt.period_start < keep_from)).all()
    devices = 0
    if old:
        devices = db.session.execute(
            delete(ParticipantDevice).where(ParticipantDevice.salt_id.in_(old))
        ).rowcount
        db.session.execute(delete(HashSalt).where(HashSalt.id.in_(old)))
    db.session.commit()
    visitor_service.forget_cached_salts()
    return {"salts_deleted": len(old), "devices_deleted": devices}
