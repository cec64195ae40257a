"""The table of the JSON API's operations for the OpenAPI document: per route what it is for,
which request and response models (`schemas/`) it takes and answers, and which errors it may
give. `openapi.py` turns it into the document; its url_map walk keeps the table honest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .schemas import admin_responses, queries, requests, responses

FORM_NOTE = "JSON or an HTML form body (`application/x-www-form-urlencoded`)."

Schema = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One operation: what it is for, what it takes and what it answers."""

    method: str
    path: str
    summary: str
    tag: str
    answer: type[BaseModel] | None = responses.Answer
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: dict[int, str] = field(default_factory=dict)
    description: str = ""
    media_type: str = "application/json"  # of the success answer
    extra: dict[str, Schema] = field(default_factory=dict)  # further answers, by status


WEBHOOKS, PUBLIC, CUSTOMER, ADMIN, META = "Webhooks", "Public", "Customer", "Admin", "Meta"
TRACK_ERRORS = {
    400: "invalid_ref / invalid_json",
    403: "program_inactive",
    404: "unknown_ref",
    415: "unsupported_media_type",
    429: "rate_limited",
}
P = "/api/referral"

ROUTES: list[Route] = [
    Route("GET", "/api/openapi.json", "This OpenAPI document", META, answer=None),
    Route(
        "GET",
        "/api/docs",
        "The API documentation as a readable page",
        META,
        answer=None,
        media_type="text/html",
    ),
    Route(
        "POST",
        f"{P}/track-click",
        "Count a click on a referral link",
        PUBLIC,
        body=requests.TrackClick,
        answer=responses.TrackClickAnswer,
        errors=TRACK_ERRORS,
        description=FORM_NOTE + " `duplicate`: this visitor was already counted for this code "
        "in the last 24 h; `blocked`: a fraud rule held it back (logged).",
    ),
    Route(
        "POST",
        f"{P}/track-conversion",
        "Count a conversion (the thank-you page)",
        PUBLIC,
        body=requests.TrackConversion,
        answer=responses.TrackConversionAnswer,
        errors={**TRACK_ERRORS, 401: "unauthorized (an `Authorization` key that is not valid)"},
        description=FORM_NOTE + " With `allowed_domains` set: counted only from their pages "
        "(Origin, else Referer) or with the customer's API key (Bearer; server to server).",
    ),
    Route(
        "GET",
        f"{P}/track",
        "The tracking pixel",
        PUBLIC,
        query=queries.PixelQuery,
        answer=None,
        media_type="image/gif",
        description="Always a 1×1 GIF, whatever happened (also when rate limited). A "
        "conversion's page is the `Referer` (see `allowed_domains`).",
    ),
    Route(
        "GET",
        f"{P}/program",
        "What the sign-up form on the thank-you page shows",
        PUBLIC,
        query=queries.RefQuery,
        answer=responses.ProgramAnswer,
        errors={400: "invalid_ref", 403: "program_inactive", 404: "unknown_ref"},
    ),
    Route(
        "POST",
        f"{P}/register-lead",
        "Sign up for the referral program (double opt-in)",
        PUBLIC,
        body=requests.RegisterLead,
        answer=responses.ConfirmationSent,
        status=202,
        description=FORM_NOTE + " The same answer for every valid request, whether or not "
        "the address is known (no enumeration).",
        errors={
            400: "invalid_ref / invalid_email / consent_required / validation_failed",
            403: "program_inactive",
            404: "unknown_ref",
            429: "rate_limited",
        },
    ),
    Route(
        "GET",
        f"{P}/confirm-lead",
        "The confirmation link in the mail (an HTML page that confirms by POST)",
        PUBLIC,
        query=queries.TokenQuery,
        answer=None,
        media_type="text/html",
        description="Mail scanners that prefetch the link confirm nothing.",
        extra={
            "400": {
                "description": "An invalid or expired link: an HTML page saying so.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
        },
    ),
    Route(
        "POST",
        f"{P}/confirm-lead",
        "Confirm a sign-up",
        PUBLIC,
        body=requests.ConfirmToken,
        answer=responses.Confirmed,
        description=FORM_NOTE + " A form post is answered with a redirect (303) to the "
        "participant's page.",
        errors={400: "invalid_token / token_expired", 429: "rate_limited"},
        extra={"303": {"description": "A form post: on to the participant's page."}},
    ),
    Route(
        "POST",
        f"{P}/resend-confirmation",
        "A new confirmation mail for an expired link",
        PUBLIC,
        body=requests.ConfirmToken,
        answer=responses.ConfirmationSent,
        status=202,
        description=FORM_NOTE,
        errors={400: "invalid_token", 429: "rate_limited"},
    ),
    Route(
        "GET",
        f"{P}/get-stats",
        "The program's totals, last 30 days and 7-day trend",
        CUSTOMER,
        answer=responses.StatsAnswer,
    ),
    Route(
        "POST",
        f"{P}/toggle",
        "Switch the program on or off",
        CUSTOMER,
        body=requests.Toggle,
        answer=responses.ToggleAnswer,
        errors={
            400: "validation_failed / program_incomplete (with `missing`)",
            403: "program_suspended",
        },
    ),
    Route(
        "POST",
        f"{P}/update-company",
        "Company details, Impressum, privacy notice, branding (JSON, form or multipart+logo)",
        CUSTOMER,
        body=requests.CompanyDetails,
        answer=responses.CompanyAnswer,
        errors={400: "validation_failed (with `fields`)", 413: "payload_too_large"},
    ),
    Route(
        "GET",
        f"{P}/rewards",
        "The reward milestones, by threshold",
        CUSTOMER,
        answer=responses.RewardList,
    ),
    Route(
        "POST",
        f"{P}/rewards",
        "Add a reward milestone",
        CUSTOMER,
        body=requests.RewardInput,
        answer=responses.Created,
        status=201,
        errors={400: "validation_failed"},
    ),
    *(
        Route(
            method,
            f"{P}/rewards/{{reward_id}}",
            summary,
            CUSTOMER,
            body=requests.RewardChange,
            answer=responses.RewardAnswer,
            errors={400: "validation_failed", 404: "not_found"},
        )
        for method, summary in (
            ("PATCH", "Edit a reward milestone (the fields sent)"),
            ("PUT", "Edit a reward milestone (the fields sent; same as PATCH)"),
        )
    ),
    Route(
        "DELETE",
        f"{P}/rewards/{{reward_id}}",
        "Delete a reward milestone",
        CUSTOMER,
        errors={404: "not_found"},
    ),
    Route(
        "POST",
        f"{P}/rewards/reorder",
        "Put the rewards in a new order on the existing thresholds",
        CUSTOMER,
        body=requests.RewardOrder,
        answer=responses.RewardList,
        errors={400: "validation_failed"},
    ),
    Route(
        "GET",
        f"{P}/participants",
        "The participants, newest first (cursor pagination)",
        CUSTOMER,
        query=queries.ParticipantQuery,
        answer=responses.ParticipantPage,
        errors={400: "invalid_status / invalid_cursor / invalid_limit"},
    ),
    Route(
        "GET",
        f"{P}/participants/{{participant_id}}/export",
        "Everything stored about one participant (DSGVO Art. 15)",
        CUSTOMER,
        answer=responses.ParticipantExport,
        errors={404: "not_found"},
    ),
    Route(
        "DELETE",
        f"{P}/participants/{{participant_id}}",
        "Erase a participant (DSGVO Art. 17); anonymous aggregates stay",
        CUSTOMER,
        errors={404: "not_found"},
    ),
    Route(
        "GET",
        f"{P}/conversions",
        "The conversions, oldest first, since a time (cursor pagination)",
        CUSTOMER,
        query=queries.ConversionQuery,
        answer=responses.ConversionPage,
        errors={400: "invalid_date / invalid_cursor / invalid_limit"},
    ),
    Route(
        "GET",
        f"{P}/daily-stats",
        "Daily numbers for a date range (default: the last 30 days)",
        CUSTOMER,
        query=queries.DailyStatsQuery,
        answer=responses.DailyStatsAnswer,
        errors={400: "invalid_date / invalid_range"},
    ),
    Route(
        "GET",
        f"{P}/webhooks",
        "List the webhook endpoints",
        WEBHOOKS,
        answer=responses.WebhookList,
    ),
    Route(
        "POST",
        f"{P}/webhooks",
        "Add a webhook endpoint",
        WEBHOOKS,
        body=requests.WebhookInput,
        answer=responses.WebhookCreated,
        status=201,
        description="The secret (`whsec_…`) is in this answer only; it is stored encrypted "
        "and never shown again. URLs that resolve to private, loopback, link-local, "
        "multicast, reserved or cloud-metadata addresses are refused (`invalid_webhook_url`).",
        errors={
            400: "`invalid_webhook_url`, `validation_failed` or `invalid_json`",
            409: "too_many_webhooks",
        },
    ),
    Route(
        "PATCH",
        f"{P}/webhooks/{{endpoint_id}}",
        "Change an endpoint's URL or events, or switch it on or off",
        WEBHOOKS,
        body=requests.WebhookChange,
        answer=responses.WebhookAnswer,
        description="Switching on clears the failure state and checks the URL again.",
        errors={400: "invalid_webhook_url / validation_failed / invalid_json", 404: "not_found"},
    ),
    Route(
        "DELETE",
        f"{P}/webhooks/{{endpoint_id}}",
        "Delete an endpoint (with its delivery log)",
        WEBHOOKS,
        errors={404: "not_found"},
    ),
    Route(
        "POST",
        f"{P}/webhooks/{{endpoint_id}}/rotate-secret",
        "Make a new signing secret",
        WEBHOOKS,
        answer=responses.SecretRotated,
        errors={404: "not_found"},
        description="For 24 hours every message is signed with the old and the new secret "
        "(two `v1,…` entries in `webhook-signature`), so the receiver can switch over.",
    ),
    Route(
        "POST",
        f"{P}/webhooks/{{endpoint_id}}/test",
        "Send a `webhook.test` event to the endpoint",
        WEBHOOKS,
        answer=responses.DeliveryAnswer,
        status=202,
        errors={404: "not_found", 409: "endpoint_disabled"},
        description="One attempt, no retries; it never counts towards switching the endpoint "
        "off. The result is in the delivery log.",
    ),
    Route(
        "GET",
        f"{P}/webhooks/{{endpoint_id}}/deliveries",
        "The endpoint's delivery log, newest first",
        WEBHOOKS,
        query=queries.DeliveryQuery,
        answer=responses.DeliveryPage,
        errors={400: "invalid_cursor / validation_failed", 404: "not_found"},
    ),
    Route(
        "GET",
        f"{P}/webhook-deliveries/{{delivery_id}}",
        "One delivery with every attempt",
        WEBHOOKS,
        answer=responses.DeliveryDetail,
        errors={404: "not_found"},
    ),
    Route(
        "POST",
        f"{P}/webhook-deliveries/{{delivery_id}}/replay",
        "Send a delivery again now (same `webhook-id`)",
        WEBHOOKS,
        answer=responses.DeliveryAnswer,
        status=202,
        errors={404: "not_found", 409: "endpoint_disabled"},
    ),
    Route(
        "GET",
        f"{P}/get-overview",
        "All programs at a glance",
        ADMIN,
        answer=admin_responses.Overview,
    ),
    Route(
        "GET",
        f"{P}/get-customer-details",
        "One customer: totals, last 30 days, daily series, participants, recent fraud",
        ADMIN,
        query=queries.CustomerDetailsQuery,
        answer=admin_responses.CustomerDetails,
        errors={400: "validation_failed", 404: "unknown_customer"},
    ),
    Route(
        "GET",
        f"{P}/get-fraud-log",
        "The fraud log, newest first",
        ADMIN,
        query=queries.FraudLogQuery,
        answer=admin_responses.FraudLogPage,
        errors={400: "validation_failed"},
    ),
    Route(
        "GET",
        f"{P}/export-stats",
        "All programs as CSV, one row per customer, header first",
        ADMIN,
        query=queries.StatsExportQuery,
        answer=None,
        media_type="text/csv",
    ),
    Route(
        "GET",
        f"{P}/export-fraud-log",
        "The fraud log as CSV (same filters as get-fraud-log)",
        ADMIN,
        query=queries.FraudExportQuery,
        answer=None,
        media_type="text/csv",
        errors={400: "validation_failed"},
    ),
    Route(
        "GET",
        f"{P}/get-customers",
        "The customers with their totals (search, sort, pages)",
        ADMIN,
        query=queries.CustomerListQuery,
        answer=admin_responses.CustomerPage,
        errors={400: "validation_failed"},
    ),
    Route(
        "POST",
        f"{P}/customer-program",
        "Switch a customer's program on or off, suspend or lift a suspension",
        ADMIN,
        body=requests.ProgramAction,
        answer=admin_responses.CustomerAnswer,
        errors={400: "validation_failed / reason_required", 404: "unknown_customer"},
    ),
    Route(
        "POST",
        f"{P}/review-fraud",
        "Mark fraud-log entries as reviewed",
        ADMIN,
        body=requests.FraudReview,
        answer=admin_responses.Reviewed,
        errors={400: "validation_failed"},
    ),
    Route(
        "GET",
        f"{P}/fraud-backtest",
        "What a fraud rule would flag with another threshold (last 90 days)",
        ADMIN,
        query=queries.BacktestParams,
        answer=admin_responses.Backtest,
        errors={400: "validation_failed"},
    ),
    Route(
        "GET",
        f"{P}/get-audit-log",
        "The admin audit trail, newest first",
        ADMIN,
        query=queries.AuditQueryParams,
        answer=admin_responses.AuditPage,
        errors={400: "validation_failed"},
    ),
]
