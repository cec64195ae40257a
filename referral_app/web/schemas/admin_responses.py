"""The admin API's answers (API.md "Admin API"), for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from .responses import (
    AdminCustomer,
    Answer,
    Count,
    DailyRow,
    Details,
    FraudEntry,
    Percent,
    Stats,
    Trend,
)


class TopPerformer(BaseModel):
    customer_id: int
    company_name: str
    conversions: Count
    conversion_rate: Percent


class FraudSummary(BaseModel):
    suspicious_conversions: Count
    suspicious_rate: Percent
    rate_limit_blocks: Count
    duplicate_ips: Count


class Overview(Answer):
    programs_active: Count
    customers: Count = None
    suspended: Count = None
    clicks: Count
    unique_clicks: Count = None
    conversions: Count
    leads: Count
    confirmed_leads: Count = None
    avg_conversion_rate: Percent
    top_performers: list[TopPerformer]
    fraud: FraudSummary


class CustomerDetails(Answer):
    customer: AdminCustomer
    totals: Stats
    last_30_days: Stats
    trend_7d: Trend = None
    fraud_share: Percent = None
    daily: list[DailyRow]
    participants: Count
    participants_by_status: dict[str, int] = None
    recent_fraud: list[FraudEntry]


class Paged(Answer):
    page: Annotated[int, Field(ge=1)]
    next_page: int | None


class FraudLogPage(Paged):
    items: list[FraudEntry]


class CustomerPage(Paged):
    items: list[AdminCustomer]
    pages: Count
    total: Count


class CustomerAnswer(Answer):
    customer: AdminCustomer


class Reviewed(Answer):
    reviewed: Count


class Backtest(Answer):
    rule: str
    threshold: float
    current_threshold: float
    days: int = None
    since: datetime | None = None
    events: Count = None
    candidate: Details
    current: Details
    difference: int = None
    logged: Count = None
    by_customer: list[Details] = None


class AuditEntry(BaseModel):
    id: int
    action: str
    user_id: int | None
    user_email: str | None
    target_type: str | None
    target_id: int | None
    details: Details
    created_at: datetime | None


class AuditPage(Paged):
    items: list[AuditEntry]
