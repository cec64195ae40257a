"""The query strings of the JSON API's GET routes: paging, filters and dates (bounded)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from flask_babel import gettext as _
from pydantic import Field

from ...models.reward import GRANT_STATUSES
from ...reporting import admin_customers, backtest, dashboard, paging, participant_list
from ...webhooks import deliveries
from .base import Day, Moment, RequestModel

Cursor = Annotated[str | None, Field(description="The `next_cursor` of the previous page.")]


def _limit(default: int, maximum: int) -> Any:
    return Field(default, ge=1, le=maximum)


class ParticipantQuery(RequestModel):
    status: Literal[participant_list.PARTICIPANT_STATUSES] | None = None
    q: str | None = Field(
        None,
        max_length=254,
        description="A whole e-mail address or referral code (exact, indexed), or part of "
        "a name or address (searched in the decrypted participants, a bounded number per "
        "page; see `search_incomplete`).",
    )
    cursor: Cursor = None
    limit: int = _limit(paging.PAGE_SIZE, paging.MAX_PAGE_SIZE)


class ConversionQuery(RequestModel):
    since: Moment | None = None
    cursor: Cursor = None
    limit: int = _limit(100, paging.MAX_PAGE_SIZE)

    error_code: ClassVar = "invalid_date"
    summary: ClassVar = lambda ctx: _(  # noqa: E731
        "Use a date like 2025-01-31 or a time like 2025-01-31T12:00:00Z."
    )
    messages: ClassVar = {"since": lambda ctx: _("not a date")}


class GrantQuery(RequestModel):
    status: Literal[GRANT_STATUSES] | None = None
    cursor: Cursor = None
    limit: int = _limit(paging.PAGE_SIZE, paging.MAX_PAGE_SIZE)

    error_code: ClassVar = "invalid_status"
    messages: ClassVar = {
        "status": lambda ctx: _("Choose pending, approved, delivered or revoked."),
    }


class DailyStatsQuery(RequestModel):
    first: Day | None = Field(None, alias="from")
    last: Day | None = Field(
        None,
        alias="to",
        description=f"YYYY-MM-DD; at most {dashboard.MAX_RANGE_DAYS} days after `from`.",
    )

    error_code: ClassVar = "invalid_date"
    summary: ClassVar = lambda ctx: _("Use dates like 2025-01-31.")  # noqa: E731
    messages: ClassVar = {
        "from": lambda ctx: _("Use a date like 2025-01-31."),
        "to": lambda ctx: _("Use a date like 2025-01-31."),
    }


class DeliveryQuery(RequestModel):
    cursor: Cursor = None
    limit: int = _limit(deliveries.PAGE_SIZE, deliveries.MAX_PAGE_SIZE)


PageNumber = Annotated[int | None, Field(ge=1, description="Page number, from 1.")]
Bom = Annotated[Literal["0", "1"] | None, Field(description="UTF-8 BOM (Excel); default 1.")]
CsvFormatName = Annotated[
    Literal["de", "plain"] | None,
    Field(
        description="`plain` (default here): comma, decimal point, ISO-8601 times in UTC. "
        "`de`: German Excel: semicolon, BOM, decimal comma, times as 06.12.2026 14:05 "
        "in `zone`."
    ),
]
Zone = Annotated[
    str | None,
    Field(None, max_length=64, description="IANA time zone for `format=de`; Europe/Berlin."),
]


class FraudLogFilter(RequestModel):
    customer_id: Annotated[int | None, Field(ge=1)] = None
    type: str | None = Field(None, description="A fraud type, e.g. fast_conversion.")
    since: Moment | None = None
    until: Moment | None = None
    reviewed: Literal["open", "reviewed"] | None = None

    messages: ClassVar = {
        "since": lambda ctx: _("Use a date like 2025-01-31."),
        "until": lambda ctx: _("Use a date like 2025-01-31."),
    }


class FraudLogQuery(FraudLogFilter):
    page: PageNumber = None


class FraudExportQuery(FraudLogFilter):
    bom: Bom = None
    format: CsvFormatName = None
    zone: Zone = None


class StatsExportQuery(RequestModel):
    bom: Bom = None
    format: CsvFormatName = None
    zone: Zone = None


class CustomerDetailsQuery(RequestModel):
    customer_id: Annotated[int, Field(ge=1)]


class CustomerListQuery(RequestModel):
    q: str | None = Field(None, description="Company name, program code or a participant's code.")
    sort: Literal[admin_customers.SORTS] | None = None
    page: PageNumber = None


class BacktestParams(RequestModel):
    rule: Literal[tuple(backtest.RULES)]
    threshold: float | None = None
    days: Annotated[int | None, Field(ge=1, le=backtest.MAX_BACKTEST_DAYS)] = None


class AuditQueryParams(RequestModel):
    action: str | None = Field(None, description="e.g. program.suspend")
    user_id: Annotated[int | None, Field(ge=1)] = None
    target_type: str | None = None
    target_id: Annotated[int | None, Field(ge=1)] = None
    page: PageNumber = None


class RefQuery(RequestModel):
    ref: str | None = Field(None, description="A referral code.")


class PixelQuery(RefQuery):
    e: Literal["click", "conversion"] | None = Field(
        None, description="`click` (the default) or `conversion`; anything else: nothing."
    )
    click_id: str | None = Field(None, description="The click the conversion follows.")


class TokenQuery(RequestModel):
    token: str | None = None
