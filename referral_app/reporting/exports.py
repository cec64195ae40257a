"""CSV exports for the admin: stats per customer and the fraud log.

- Streamed: a generator over id-ordered batches (keyset, never OFFSET), so 10,000 customers
  or a million log entries never sit in memory at once.
- In a `core.csvfile` format: `de` for a German Excel (semicolon, byte order mark, decimal
  comma, local times in Europe/Berlin or a chosen zone) or `plain` for scripts (comma, ISO
  times in UTC; scripts read the byte order mark with `utf-8-sig`, `bom=False` leaves it out).
- CSV injection: a text cell that begins with = + - @, a tab or a carriage return gets a
  leading apostrophe, so a spreadsheet shows it as text instead of running it as a formula.
- Read from the read replica when there is one (core/readonly.py); the audit entry that
  records the export is written to the primary first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from ..core import csvfile, readonly
from ..core.formats import percent
from ..extensions import db
from ..models import COUNTERS, Customer, CustomerStats, DailyStats, FraudLogEntry
from ..tracking import stats
from .audit_trail import record_audit
from .fraud_log import FraudFilter

BATCH = 1000

STATS_COLUMNS = (
    "customer_id",
    "company_name",
    "ref_code",
    "program_active",
    "enabled",
    "suspended_at",
    "suspended_reason",
    "created_at",
    *COUNTERS,
    "conversion_rate",
    "suspicious_share",
    "clicks_30d",
    "unique_clicks_30d",
    "conversions_30d",
    "suspicious_conversions_30d",
    "leads_30d",
)
FRAUD_COLUMNS = (
    "id",
    "created_at",
    "type",
    "event",
    "customer_id",
    "company_name",
    "ref_code",
    "details",
    "reviewed_at",
    "reviewed_by",
)
WINDOW_COUNTERS = ("clicks", "unique_clicks", "conversions", "suspicious_conversions", "leads")


def start_stats_export(
    admin_id: int | None, via: str, fmt: csvfile.CsvFormat = csvfile.PLAIN
) -> Iterator[str]:
    """Record the export in the audit trail (now, committed), then hand back the lazy CSV."""
    record_audit(admin_id, "export.stats", "customer", None, {"via": via, "format": fmt.name})
    db.session.commit()
    return stats_csv(fmt)


def start_fraud_export(
    admin_id: int | None,
    via: str,
    filters: FraudFilter,
    fmt: csvfile.CsvFormat = csvfile.PLAIN,
) -> Iterator[str]:
    record_audit(
        admin_id,
        "export.fraud_log",
        "fraud_log",
        None,
        {"via": via, "format": fmt.name, "filters": filters.as_args(page=None)},
    )
    db.session.commit()
    return fraud_csv(filters, fmt)


def stats_csv(fmt: csvfile.CsvFormat = csvfile.PLAIN, batch: int = BATCH) -> Iterator[str]:
    """One row per customer (totals, rates, the last 30 days), header first, by id."""
    return csvfile.stream(_stats_rows(batch), fmt=fmt, chunk_rows=batch)


def _stats_rows(batch: int) -> Iterator[list[Any]]:
    yield list(STATS_COLUMNS)
    today = stats.today()
    first_day = today - timedelta(days=29)
    reader = readonly.session()
    last_id = 0
    while True:
        rows = reader.execute(
            select(Customer, *[func.coalesce(getattr(CustomerStats, n), 0) for n in COUNTERS])
            .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
            .where(Customer.id > last_id)
            .order_by(Customer.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        ids = [row[0].id for row in rows]
        window = _window_sums(reader, ids[0], ids[-1], first_day, today)
        for row in rows:
            customer = row[0]
            counters = dict(zip(COUNTERS, (int(v) for v in row[1:]), strict=True))
            recent = window.get(customer.id, dict.fromkeys(WINDOW_COUNTERS, 0))
            yield (
                [
                    customer.id,
                    customer.company_name,
                    customer.ref_code,
                    "yes" if customer.program_active else "no",
                    "yes" if customer.referral_enabled else "no",
                    customer.suspended_at,
                    customer.suspended_reason or "",
                    customer.created_at,
                    *(counters[name] for name in COUNTERS),
                    percent(counters["conversions"], counters["unique_clicks"]),
                    percent(counters["suspicious_conversions"], counters["conversions"]),
                    *(recent[name] for name in WINDOW_COUNTERS),
                ]
            )
        last_id = ids[-1]


def _window_sums(
    reader: readonly.Reader, first_id: int, last_id: int, first_day, last_day
) -> dict[int, dict[str, int]]:
    rows = reader.execute(
        select(
            DailyStats.customer_id,
            *[func.sum(getattr(DailyStats, name)) for name in WINDOW_COUNTERS],
        )
        .where(
            DailyStats.customer_id >= first_id,
            DailyStats.customer_id <= last_id,
            DailyStats.day >= first_day,
            DailyStats.day <= last_day,
        )
        .group_by(DailyStats.customer_id)
    )
    return {
        row[0]: {
            name: int(value or 0) for name, value in zip(WINDOW_COUNTERS, row[1:], strict=True)
        }
        for row in rows
    }


def fraud_csv(
    filters: FraudFilter, fmt: csvfile.CsvFormat = csvfile.PLAIN, batch: int = BATCH
) -> Iterator[str]:
    """The fraud log under `filters` (all pages), newest first, header first."""
    return csvfile.stream(_fraud_rows(filters, batch), fmt=fmt, chunk_rows=batch)


def _fraud_rows(filters: FraudFilter, batch: int) -> Iterator[list[Any]]:
    yield list(FRAUD_COLUMNS)
    entry = FraudLogEntry
    columns = (
        entry.id,
        entry.created_at,
        entry.type,
        entry.event,
        entry.customer_id,
        Customer.company_name,
        entry.ref_code,
        entry.details,
        entry.reviewed_at,
        entry.reviewed_by,
    )
    reader = readonly.session()
    last_id: int | None = None
    while True:
        # Plain rows, not ORM objects: a million entries stream at the database's pace.
        statement = (
            select(*columns)
            .outerjoin(Customer, Customer.id == entry.customer_id)
            .where(*filters.conditions())
            .order_by(entry.id.desc())
            .limit(batch)
        )
        if last_id is not None:
            statement = statement.where(entry.id < last_id)
        rows = reader.execute(statement).all()
        if not rows:
            return
        yield from (
            [
                row.id,
                row.created_at,
                row.type,
                row.event or "",
                row.customer_id or "",
                row.company_name or "",
                row.ref_code or "",
                json.dumps(row.details or {}, ensure_ascii=False, sort_keys=True),
                row.reviewed_at,
                row.reviewed_by or "",
            ]
            for row in rows
        )
        last_id = rows[-1].id
