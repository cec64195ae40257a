"""What the JSON API answers, one model per shape (API.md). The views build plain dicts;
these models describe them for the OpenAPI document, and the tests hold the real answers
against it (schemathesis)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ...webhooks.endpoints import EVENTS
from ...webhooks.urls import MAX_URL_LENGTH

Count = Annotated[int, Field(ge=0)]
Percent = float
WebhookEvent = Literal[EVENTS]
ParticipantStatus = Literal["pending", "confirmed", "unsubscribed"]
TrackStatus = Literal["tracked", "duplicate", "blocked"]
Details = dict[str, Any]


class Answer(BaseModel):
    """A success body: `{"ok": true, …}`."""

    ok: Literal[True]


class Error(BaseModel):
    """Every error answer: a snake_case code and a human message (German or English)."""

    ok: Literal[False]
    error: str = Field(description="A snake_case code.")
    message: str = Field(description="Human text (German or English).")
    fields: dict[str, str] = Field(None, description="Per field messages (validation errors only).")


class Stats(BaseModel):
    """The S object of API.md."""

    clicks: Count
    unique_clicks: Count
    conversions: Count
    suspicious_conversions: Count
    leads: Count
    confirmed_leads: Count
    conversion_rate: Percent = Field(
        description="conversions / unique_clicks × 100, one decimal; 0 with no clicks."
    )


_TREND = "Percent; null when the week before is 0."


class Trend(BaseModel):
    clicks: Percent | None = Field(description=_TREND)
    conversions: Percent | None = Field(description=_TREND)
    leads: Percent | None = Field(description=_TREND)


class DailyRow(BaseModel):
    date: date
    clicks: Count
    unique_clicks: Count
    conversions: Count
    suspicious_conversions: Count
    leads: Count
    confirmed_leads: Count
    blocked_clicks: Count = None
    blocked_conversions: Count = None


class ParticipantReward(BaseModel):
    id: int = None
    tier: str
    title: str
    threshold: int
    earned_at: datetime | None = None


class Participant(BaseModel):
    id: int
    email: str | None = Field(description="Decrypted for you.")
    name: str | None
    ref_code: str
    status: ParticipantStatus
    referrals: Count
    clicks: Count = None
    conversions: Count = None
    suspicious_conversions: Count = None
    rewards: list[ParticipantReward]
    created_at: datetime | None = None
    confirmed_at: datetime | None = None


class ConversionItem(BaseModel):
    id: int
    ref_code: str
    status: TrackStatus = None
    suspicious: bool
    reasons: list[str]
    participant_id: int | None = None
    created_at: datetime | None


RewardKind = Literal["text", "code", "download", "cash"]
GrantStatus = Literal["pending", "approved", "delivered", "revoked"]


class CodeStock(BaseModel):
    available: Count
    used: Count
    low: bool = Field(description="At most max(5, 10 % of all codes added) are left.")


class Reward(BaseModel):
    id: int
    threshold: Annotated[int, Field(ge=1)]
    tier: str
    title: str
    description: str | None
    delivery: str | None
    kind: RewardKind = Field(None, description="What is given; `text` uses `delivery`.")
    amount_cents: int | None = Field(None, description="Cash rewards: the amount in EUR cents.")
    hold_days: Count = Field(None, description="Days a reward is held before delivery.")
    manual_approval: bool = Field(None, description="Pending rewards wait for approval.")
    codes: CodeStock = Field(None, description="Code rewards: the code bank's stock.")


class CodesAdded(BaseModel):
    ok: Literal[True]
    added: Count
    available: Count


class Grant(BaseModel):
    id: int
    participant_id: int
    reward_id: int
    status: GrantStatus
    reason: str | None = Field(description="Why it was revoked (the customer's or a clawback).")
    code: str = Field(None, description="Code rewards: the code this grant took.")
    created_at: datetime | None = Field(description="When it was earned.")
    due_at: datetime | None = Field(description="When the hold ends.")
    delivered_at: datetime | None = None
    kind: RewardKind = None
    tier: str = None
    title: str = None
    manual_approval: bool = None


class GrantPage(BaseModel):
    ok: Literal[True]
    items: list[Grant]
    next_cursor: str | None


class GrantStatusAnswer(BaseModel):
    ok: Literal[True]
    status: GrantStatus


class Company(BaseModel):
    company_name: str
    contact_email: str | None
    sender_name: str | None = None
    website: str | None = None
    imprint: str | None = Field(description="The Impressum.")
    language: str = None
    privacy_url: str | None = Field(None, description="The privacy notice (https).")
    time_zone: str = Field(None, description="IANA name; default Europe/Berlin.")
    accent_color: str | None = Field(None, description="`#rrggbb`; null: the default blue.")
    allowed_domains: list[str] = Field(
        None, description="Host names whose pages may count conversions; empty: no check."
    )
    logo_url: str | None = Field(None, description="Set in the dashboard; served by this app.")


class FreebieFile(BaseModel):
    filename: str
    content_type: str
    size: Count
    download_url: str


class Freebie(BaseModel):
    title: str | None
    description: str | None
    url: str | None = Field(description="Where the thank-you page sends the visitor.")
    file: FreebieFile | None = Field(None, description="A file set in the dashboard.")
    image_url: str | None = None
    ready: bool = Field(description="A title and a file or an address: visitors get it.")


class FraudEntry(BaseModel):
    id: int
    type: str
    customer_id: int | None
    ref_code: str | None
    created_at: datetime | None
    details: Details
    event: str | None = None
    reviewed_at: datetime | None = None
    reviewed_by: int | None = None
    company_name: str = None
    reviewed_by_email: str | None = None


class AdminCustomer(BaseModel):
    customer_id: int
    company_name: str
    ref_code: str
    contact_email: str | None = None
    website: str | None = None
    enabled: bool
    program_active: bool
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    created_at: datetime | None = None


class WebhookEndpoint(BaseModel):
    id: int
    url: str = Field(max_length=MAX_URL_LENGTH)
    events: list[WebhookEvent]
    enabled: bool
    disabled_reason: str | None = Field(
        None,
        description="`persistent_failure` (switched off by us after a day of failed "
        "deliveries) or `by_customer`.",
    )
    consecutive_failures: Count = None
    previous_secret_expires_at: datetime | None = Field(
        None, description="While set, the previous secret signs too."
    )
    created_at: datetime | None = None


class WebhookDelivery(BaseModel):
    id: int
    msg_id: str = Field(description="The `webhook-id` header, stable.")
    event: str
    status: Literal["pending", "sent", "failed"]
    attempts: Count
    last_status_code: int | None
    last_error: str | None
    next_retry_at: datetime | None
    created_at: datetime | None
    delivered_at: datetime | None


class WebhookAttempt(BaseModel):
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int | None
    created_at: datetime | None


class WebhookPayload(BaseModel):
    """The JSON body POSTed to a webhook endpoint (see docs/webhooks.md)."""

    event: Literal[(*EVENTS, "webhook.test")]
    customer_id: int
    ref_code: str | None
    timestamp: datetime = Field(description="When the event happened (UTC).")
    data: Details


class TrackClickAnswer(Answer):
    status: TrackStatus
    click_id: int | None


class TrackConversionAnswer(Answer):
    status: TrackStatus
    suspicious: bool


class ProgramAnswer(Answer):
    active: bool
    company_name: str
    consent_text: str
    consent_version: str = None
    language: str = None
    privacy_url: str | None = Field(None, description="The program's privacy notice (https).")
    imprint_url: str | None = Field(None, description="The program's Impressum page.")
    accent_color: str = Field(None, description="`#rrggbb`, the program's accent colour.")
    logo_url: str | None = Field(None, description="The program's logo, served by this app.")


class ConfirmationSent(Answer):
    status: Literal["confirmation_sent"]


class Confirmed(Answer):
    status: Literal["confirmed", "already_confirmed"]
    ref_code: str
    referral_link: str


class StatsAnswer(Answer):
    customer_id: int
    ref_code: str
    enabled: bool
    totals: Stats
    last_30_days: Stats
    trend_7d: Trend


class ToggleAnswer(Answer):
    enabled: bool


class CompanyAnswer(Answer):
    company: Company


class FreebieAnswer(Answer):
    freebie: Freebie


class RewardList(Answer):
    items: list[Reward]


class Created(Answer):
    id: int


class RewardAnswer(Answer):
    item: Reward


class ParticipantPage(Answer):
    items: list[Participant]
    next_cursor: str | None
    search_incomplete: bool | None = Field(
        None,
        description="With `q`: true when this page stopped after decrypting the search's "
        "bound of participants; `next_cursor` searches the older ones.",
    )


class Consent(BaseModel):
    text: str | None
    version: str | None
    given_at: datetime | None
    page: str | None
    confirmed_at: datetime | None


class ParticipantExport(Answer):
    participant: Details
    consent: Consent
    referrals: list[Details]
    rewards: list[Details]


class ConversionPage(Answer):
    items: list[ConversionItem]
    next_cursor: str | None


class DailyStatsAnswer(Answer):
    days: list[DailyRow]


class WebhookList(Answer):
    items: list[WebhookEndpoint]


class WebhookCreated(Answer):
    id: int
    secret: str = Field(pattern="^whsec_")


class WebhookAnswer(Answer):
    webhook: WebhookEndpoint


class SecretRotated(Answer):
    secret: str
    previous_secret_expires_at: datetime


class DeliveryAnswer(Answer):
    delivery: WebhookDelivery


class DeliveryPage(Answer):
    items: list[WebhookDelivery]
    next_cursor: str | None


class DeliveryDetail(Answer):
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
