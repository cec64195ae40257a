"""The OpenAPI 3 document of the JSON API, built from the app's real routes.

Paths, methods and path parameters come from `app.url_map` (so a route cannot be documented
under a path it does not have); what each operation takes and answers is kept by hand in
`OPERATIONS` beside the shared schemas. `undocumented(app)` lists every `/api/` route
without a description, and a test keeps that list empty, so a new route cannot ship
undescribed.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

from ..webhooks.endpoints import EVENTS

OPENAPI_VERSION = "3.0.3"
API_PREFIX = "/api/"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
SECURED_BLUEPRINTS = {"customer_api", "admin_api"}

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **extra}
    schema["required"] = list(properties) if required is None else required
    if not schema["required"]:
        del schema["required"]
    return schema


def ok(properties: dict[str, Schema] | None = None, required: list[str] | None = None) -> Schema:
    """A success body: `{"ok": true, …}`."""
    props = {"ok": {"type": "boolean", "enum": [True]}, **(properties or {})}
    return obj(props, None if required is None else ["ok", *required])


INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
DATE_TIME = {"type": "string", "format": "date-time"}
DATE = {"type": "string", "format": "date"}
CURSOR = nullable({"type": "string"})

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "ok": {"type": "boolean", "enum": [False]},
            "error": {"type": "string", "description": "A snake_case code."},
            "message": {"type": "string", "description": "Human text (German or English)."},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "Per field messages (validation errors only).",
            },
        },
        ["ok", "error", "message"],
    ),
    "WebhookEvent": {"type": "string", "enum": list(EVENTS)},
    "WebhookEndpoint": obj(
        {
            "id": INT,
            "url": {"type": "string", "maxLength": 2000},
            "events": {"type": "array", "items": ref("WebhookEvent")},
            "enabled": BOOL,
            "disabled_reason": nullable(
                {
                    "type": "string",
                    "description": "`persistent_failure` (switched off by us after a day of "
                    "failed deliveries) or `by_customer`.",
                }
            ),
            "consecutive_failures": COUNT,
            "previous_secret_expires_at": nullable(
                {**DATE_TIME, "description": "While set, the previous secret signs too."}
            ),
            "created_at": nullable(DATE_TIME),
        },
        ["id", "url", "events", "enabled"],
    ),
    "WebhookDelivery": obj(
        {
            "id": INT,
            "msg_id": {"type": "string", "description": "The `webhook-id` header, stable."},
            "event": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "sent", "failed"]},
            "attempts": COUNT,
            "last_status_code": nullable(INT),
            "last_error": nullable(STR),
            "next_retry_at": nullable(DATE_TIME),
            "created_at": nullable(DATE_TIME),
            "delivered_at": nullable(DATE_TIME),
        }
    ),
    "WebhookAttempt": obj(
        {
            "attempt": INT,
            "status_code": nullable(INT),
            "error": nullable(STR),
            "duration_ms": nullable(INT),
            "created_at": nullable(DATE_TIME),
        }
    ),
    "WebhookPayload": obj(
        {
            "event": {"type": "string", "enum": [*EVENTS, "webhook.test"]},
            "customer_id": INT,
            "ref_code": nullable(STR),
            "timestamp": {**DATE_TIME, "description": "When the event happened (UTC)."},
            "data": {"type": "object", "additionalProperties": True},
        },
        description="The JSON body POSTed to a webhook endpoint (see docs/webhooks.md).",
    ),
}

PARAMETERS: dict[str, Schema] = {
    "cursor": {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The `next_cursor` of the previous page.",
        "schema": {"type": "string"},
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
}


def op(
    summary: str,
    *,
    tag: str,
    response: Schema | None = None,
    status: int = 200,
    description: str | None = None,
    body: Schema | None = None,
    query: list[Schema] | None = None,
    content_type: str = "application/json",
    errors: dict[int, str] | None = None,
) -> dict[str, Any]:
    """One hand-kept operation: what it is for, what it takes, what it answers."""
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    if query:
        operation["parameters"] = query
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if content_type == "application/json":
        content = {"application/json": {"schema": response or ok()}}
    else:
        content = {content_type: {"schema": response or {"type": "string"}}}
    operation["responses"] = {str(status): {"description": "Success.", "content": content}}
    for code, text in (errors or {}).items():
        operation["responses"][str(code)] = {
            "description": text,
            "content": {"application/json": {"schema": ref("Error")}},
        }
    return operation


WEBHOOK_BODY = obj(
    {
        "url": {"type": "string", "maxLength": 2000, "example": "https://example.com/hooks"},
        "events": {"type": "array", "items": ref("WebhookEvent"), "minItems": 1},
    }
)

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    # --- meta ---
    ("GET", "/api/openapi.json"): op(
        "This OpenAPI document",
        tag="Meta",
        response={"type": "object", "additionalProperties": True},
    ),
    ("GET", "/api/docs"): op(
        "The API documentation as a readable page",
        tag="Meta",
        content_type="text/html",
    ),
    # --- webhooks ---
    ("GET", "/api/referral/webhooks"): op(
        "List the webhook endpoints",
        tag="Webhooks",
        response=ok({"items": {"type": "array", "items": ref("WebhookEndpoint")}}),
    ),
    ("POST", "/api/referral/webhooks"): op(
        "Add a webhook endpoint",
        tag="Webhooks",
        description="The secret (`whsec_…`) is in this answer only; it is stored encrypted "
        "and never shown again. URLs that resolve to private, loopback, link-local, "
        "multicast, reserved or cloud-metadata addresses are refused "
        "(`invalid_webhook_url`).",
        body=WEBHOOK_BODY,
        status=201,
        response=ok({"id": INT, "secret": {"type": "string", "pattern": "^whsec_"}}),
        errors={400: "`invalid_webhook_url` or `validation_failed`", 409: "too_many_webhooks"},
    ),
    ("PATCH", "/api/referral/webhooks/{endpoint_id}"): op(
        "Change an endpoint's URL or events, or switch it on or off",
        tag="Webhooks",
        description="Switching on clears the failure state and checks the URL again.",
        body=obj(
            {
                "url": {"type": "string", "maxLength": 2000},
                "events": {"type": "array", "items": ref("WebhookEvent"), "minItems": 1},
                "enabled": BOOL,
            },
            [],
        ),
        response=ok({"webhook": ref("WebhookEndpoint")}),
        errors={400: "invalid_webhook_url / validation_failed", 404: "not_found"},
    ),
    ("DELETE", "/api/referral/webhooks/{endpoint_id}"): op(
        "Delete an endpoint (with its delivery log)",
        tag="Webhooks",
        errors={404: "not_found"},
    ),
    ("POST", "/api/referral/webhooks/{endpoint_id}/rotate-secret"): op(
        "Make a new signing secret",
        tag="Webhooks",
        description="For 24 hours every message is signed with the old and the new secret "
        "(two `v1,…` entries in `webhook-signature`), so the receiver can switch over.",
        response=ok({"secret": {"type": "string"}, "previous_secret_expires_at": DATE_TIME}),
        errors={404: "not_found"},
    ),
    ("POST", "/api/referral/webhooks/{endpoint_id}/test"): op(
        "Send a `webhook.test` event to the endpoint",
        tag="Webhooks",
        description="One attempt, no retries; it never counts towards switching the endpoint "
        "off. The result is in the delivery log.",
        status=202,
        response=ok({"delivery": ref("WebhookDelivery")}),
        errors={404: "not_found", 409: "endpoint_disabled"},
    ),
    ("GET", "/api/referral/webhooks/{endpoint_id}/deliveries"): op(
        "The endpoint's delivery log, newest first",
        tag="Webhooks",
        query=[PARAMETERS["cursor"], PARAMETERS["limit"]],
        response=ok(
            {"items": {"type": "array", "items": ref("WebhookDelivery")}, "next_cursor": CURSOR}
        ),
        errors={400: "invalid_cursor / validation_failed", 404: "not_found"},
    ),
    ("GET", "/api/referral/webhook-deliveries/{delivery_id}"): op(
        "One delivery with every attempt",
        tag="Webhooks",
        response=ok(
            {
                "delivery": ref("WebhookDelivery"),
                "attempts": {"type": "array", "items": ref("WebhookAttempt")},
            }
        ),
        errors={404: "not_found"},
    ),
    ("POST", "/api/referral/webhook-deliveries/{delivery_id}/replay"): op(
        "Send a delivery again now (same `webhook-id`)",
        tag="Webhooks",
        status=202,
        response=ok({"delivery": ref("WebhookDelivery")}),
        errors={404: "not_found", 409: "endpoint_disabled"},
    ),
}


# --- The other areas' schemas and operations (public, customer, admin) -------------------

COUNTER_NAMES = (
    "clicks",
    "unique_clicks",
    "conversions",
    "suspicious_conversions",
    "leads",
    "confirmed_leads",
)
ALL_COUNTERS = (*COUNTER_NAMES, "blocked_clicks", "blocked_conversions")
PARTICIPANT_STATUS = {"type": "string", "enum": ["pending", "confirmed", "unsubscribed"]}
TRACK_STATUS = {"type": "string", "enum": ["tracked", "duplicate", "blocked"]}

SCHEMAS.update(
    {
        "Stats": obj(
            {
                **{name: COUNT for name in COUNTER_NAMES},
                "conversion_rate": {
                    **NUM,
                    "description": "conversions / unique_clicks × 100, one decimal; 0 with "
                    "no clicks.",
                },
            },
            description="The S object of API.md.",
        ),
        "Trend": obj(
            {
                name: nullable({**NUM, "description": "Percent; null when the week before is 0."})
                for name in ("clicks", "conversions", "leads")
            }
        ),
        "DailyRow": obj(
            {"date": DATE, **{name: COUNT for name in ALL_COUNTERS}},
            ["date", *COUNTER_NAMES],
        ),
        "ParticipantReward": obj(
            {
                "id": INT,
                "tier": STR,
                "title": STR,
                "threshold": INT,
                "earned_at": nullable(DATE_TIME),
            },
            ["tier", "title", "threshold"],
        ),
        "Participant": obj(
            {
                "id": INT,
                "email": nullable({"type": "string", "description": "Decrypted for you."}),
                "name": nullable(STR),
                "ref_code": STR,
                "status": PARTICIPANT_STATUS,
                "referrals": COUNT,
                "clicks": COUNT,
                "conversions": COUNT,
                "suspicious_conversions": COUNT,
                "rewards": {"type": "array", "items": ref("ParticipantReward")},
                "created_at": nullable(DATE_TIME),
                "confirmed_at": nullable(DATE_TIME),
            },
            ["id", "email", "name", "ref_code", "status", "referrals", "rewards"],
        ),
        "ConversionItem": obj(
            {
                "id": INT,
                "ref_code": STR,
                "status": TRACK_STATUS,
                "suspicious": BOOL,
                "reasons": {"type": "array", "items": STR},
                "participant_id": nullable(INT),
                "created_at": nullable(DATE_TIME),
            },
            ["id", "ref_code", "suspicious", "reasons", "created_at"],
        ),
        "Reward": obj(
            {
                "id": INT,
                "threshold": {"type": "integer", "minimum": 1},
                "tier": STR,
                "title": STR,
                "description": nullable(STR),
                "delivery": nullable(STR),
            }
        ),
        "RewardInput": obj(
            {
                "threshold": {"type": "integer", "minimum": 1},
                "tier": {"type": "string", "maxLength": 50, "example": "Bronze"},
                "title": {"type": "string", "maxLength": 200},
                "description": {"type": "string", "maxLength": 2000},
                "delivery": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": "Text, link or coupon shown in the reward mail.",
                },
            },
            ["threshold", "tier", "title"],
        ),
        "Company": obj(
            {
                "company_name": STR,
                "contact_email": nullable(STR),
                "sender_name": nullable(STR),
                "website": nullable(STR),
                "imprint": nullable({"type": "string", "description": "The Impressum."}),
                "language": STR,
            },
            ["company_name", "contact_email", "imprint"],
        ),
        "FraudEntry": obj(
            {
                "id": INT,
                "type": STR,
                "customer_id": nullable(INT),
                "ref_code": nullable(STR),
                "created_at": nullable(DATE_TIME),
                "details": {"type": "object", "additionalProperties": True},
                "event": nullable(STR),
                "reviewed_at": nullable(DATE_TIME),
                "reviewed_by": nullable(INT),
                "company_name": STR,
                "reviewed_by_email": nullable(STR),
            },
            ["id", "type", "customer_id", "ref_code", "created_at", "details"],
        ),
        "AdminCustomer": obj(
            {
                "customer_id": INT,
                "company_name": STR,
                "ref_code": STR,
                "contact_email": nullable(STR),
                "website": nullable(STR),
                "enabled": BOOL,
                "program_active": BOOL,
                "suspended_at": nullable(DATE_TIME),
                "suspended_reason": nullable(STR),
                "created_at": nullable(DATE_TIME),
            },
            ["customer_id", "company_name", "ref_code", "enabled", "program_active"],
        ),
    }
)

FORM_NOTE = "JSON or an HTML form body (`application/x-www-form-urlencoded`)."


def query(name: str, schema: Schema, description: str = "") -> Schema:
    parameter: Schema = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


PAGE = query("page", {"type": "integer", "minimum": 1}, "Page number, from 1.")
PAGED = {"page": {"type": "integer", "minimum": 1}, "next_page": nullable(INT)}

OPERATIONS.update(
    {
        # --- public API ---
        ("POST", "/api/referral/track-click"): op(
            "Count a click on a referral link",
            tag="Public",
            description=FORM_NOTE + " `duplicate`: this visitor was already counted for this "
            "code in the last 24 h; `blocked`: a fraud rule held it back (logged).",
            body=obj(
                {"ref": {"type": "string", "maxLength": 64}, "page": STR},
                ["ref"],
            ),
            response=ok({"status": TRACK_STATUS, "click_id": nullable(INT)}),
            errors={
                400: "invalid_ref / invalid_json",
                403: "program_inactive",
                404: "unknown_ref",
                429: "rate_limited",
            },
        ),
        ("POST", "/api/referral/track-conversion"): op(
            "Count a conversion (the thank-you page)",
            tag="Public",
            description=FORM_NOTE,
            body=obj(
                {
                    "ref": {"type": "string", "maxLength": 64},
                    "click_id": {"type": "integer", "minimum": 1},
                    "page": STR,
                },
                ["ref"],
            ),
            response=ok({"status": TRACK_STATUS, "suspicious": BOOL}),
            errors={
                400: "invalid_ref / invalid_json",
                403: "program_inactive",
                404: "unknown_ref",
                429: "rate_limited",
            },
        ),
        ("GET", "/api/referral/track"): op(
            "The tracking pixel",
            tag="Public",
            description="Always a 1×1 GIF, whatever happened (also when rate limited).",
            query=[
                query("ref", STR, "A referral code."),
                query("e", STR, "`click` (the default) or `conversion`; anything else: nothing."),
                query("click_id", STR, "The click the conversion follows (optional)."),
            ],
            content_type="image/gif",
            response={"type": "string", "format": "binary"},
        ),
        ("GET", "/api/referral/program"): op(
            "What the sign-up form on the thank-you page shows",
            tag="Public",
            query=[query("ref", STR, "A referral code.")],
            response=ok(
                {
                    "active": BOOL,
                    "company_name": STR,
                    "consent_text": STR,
                    "consent_version": STR,
                    "language": STR,
                    "privacy_url": nullable(STR),
                },
                ["active", "company_name", "consent_text"],
            ),
            errors={400: "invalid_ref", 403: "program_inactive", 404: "unknown_ref"},
        ),
        ("POST", "/api/referral/register-lead"): op(
            "Sign up for the referral program (double opt-in)",
            tag="Public",
            description=FORM_NOTE + " The same answer for every valid request, whether or not "
            "the address is known (no enumeration).",
            body=obj(
                {
                    "ref": STR,
                    "email": {"type": "string", "maxLength": 254},
                    "consent": {"type": "boolean", "enum": [True]},
                    "name": {"type": "string", "maxLength": 200},
                },
                ["ref", "email", "consent"],
            ),
            status=202,
            response=ok({"status": {"type": "string", "enum": ["confirmation_sent"]}}),
            errors={
                400: "invalid_ref / invalid_email / consent_required",
                403: "program_inactive",
                404: "unknown_ref",
                429: "rate_limited",
            },
        ),
        ("GET", "/api/referral/confirm-lead"): op(
            "The confirmation link in the mail (an HTML page that confirms by POST)",
            tag="Public",
            description="Mail scanners that prefetch the link confirm nothing.",
            query=[query("token", STR)],
            content_type="text/html",
            errors={},
        ),
        ("POST", "/api/referral/confirm-lead"): op(
            "Confirm a sign-up",
            tag="Public",
            description=FORM_NOTE + " A form post is answered with a redirect (303) to the "
            "participant's page.",
            body=obj({"token": STR}),
            response=ok(
                {
                    "status": {"type": "string", "enum": ["confirmed", "already_confirmed"]},
                    "ref_code": STR,
                    "referral_link": STR,
                }
            ),
            errors={400: "invalid_token / token_expired", 429: "rate_limited"},
        ),
        ("POST", "/api/referral/resend-confirmation"): op(
            "A new confirmation mail for an expired link",
            tag="Public",
            description=FORM_NOTE,
            body=obj({"token": STR}),
            status=202,
            response=ok({"status": {"type": "string", "enum": ["confirmation_sent"]}}),
            errors={400: "invalid_token", 429: "rate_limited"},
        ),
        # --- customer API ---
        ("GET", "/api/referral/get-stats"): op(
            "The program's totals, last 30 days and 7-day trend",
            tag="Customer",
            response=ok(
                {
                    "customer_id": INT,
                    "ref_code": STR,
                    "enabled": BOOL,
                    "totals": ref("Stats"),
                    "last_30_days": ref("Stats"),
                    "trend_7d": ref("Trend"),
                }
            ),
        ),
        ("POST", "/api/referral/toggle"): op(
            "Switch the program on or off",
            tag="Customer",
            body=obj({"enabled": BOOL}),
            response=ok({"enabled": BOOL}),
            errors={400: "validation_failed", 403: "program_suspended"},
        ),
        ("POST", "/api/referral/update-company"): op(
            "Company details and Impressum (shown in every e-mail)",
            tag="Customer",
            body=obj(
                {
                    "company_name": {"type": "string", "maxLength": 200},
                    "contact_email": {"type": "string", "maxLength": 254},
                    "imprint": STR,
                    "website": {"type": "string", "maxLength": 500},
                    "sender_name": {"type": "string", "maxLength": 200},
                    "language": {"type": "string", "enum": ["de", "en"]},
                },
                ["company_name", "contact_email", "imprint"],
            ),
            response=ok({"company": ref("Company")}),
            errors={400: "validation_failed (with `fields`)"},
        ),
        ("GET", "/api/referral/rewards"): op(
            "The reward milestones, by threshold",
            tag="Customer",
            response=ok({"items": {"type": "array", "items": ref("Reward")}}),
        ),
        ("POST", "/api/referral/rewards"): op(
            "Add a reward milestone",
            tag="Customer",
            body=ref("RewardInput"),
            status=201,
            response=ok({"id": INT}),
            errors={400: "validation_failed"},
        ),
        ("PATCH", "/api/referral/rewards/{reward_id}"): op(
            "Edit a reward milestone (all fields)",
            tag="Customer",
            body=ref("RewardInput"),
            response=ok({"item": ref("Reward")}),
            errors={400: "validation_failed", 404: "not_found"},
        ),
        ("PUT", "/api/referral/rewards/{reward_id}"): op(
            "Edit a reward milestone (all fields; same as PATCH)",
            tag="Customer",
            body=ref("RewardInput"),
            response=ok({"item": ref("Reward")}),
            errors={400: "validation_failed", 404: "not_found"},
        ),
        ("DELETE", "/api/referral/rewards/{reward_id}"): op(
            "Delete a reward milestone",
            tag="Customer",
            errors={404: "not_found"},
        ),
        ("POST", "/api/referral/rewards/reorder"): op(
            "Put the rewards in a new order on the existing thresholds",
            tag="Customer",
            body=obj({"ids": {"type": "array", "items": INT}}),
            response=ok({"items": {"type": "array", "items": ref("Reward")}}),
            errors={400: "validation_failed"},
        ),
        ("GET", "/api/referral/participants"): op(
            "The participants, newest first (cursor pagination)",
            tag="Customer",
            query=[
                query("status", PARTICIPANT_STATUS),
                query("q", STR, "An e-mail address or a referral code."),
                PARAMETERS["cursor"],
                PARAMETERS["limit"],
            ],
            response=ok(
                {"items": {"type": "array", "items": ref("Participant")}, "next_cursor": CURSOR}
            ),
            errors={400: "validation_failed / invalid_cursor / invalid_limit"},
        ),
        ("GET", "/api/referral/participants/{participant_id}/export"): op(
            "Everything stored about one participant (DSGVO Art. 15)",
            tag="Customer",
            response=ok(
                {
                    "participant": {"type": "object", "additionalProperties": True},
                    "consent": obj(
                        {
                            "text": nullable(STR),
                            "version": nullable(STR),
                            "given_at": nullable(DATE_TIME),
                            "page": nullable(STR),
                            "confirmed_at": nullable(DATE_TIME),
                        }
                    ),
                    "referrals": {"type": "array", "items": {"type": "object"}},
                    "rewards": {"type": "array", "items": {"type": "object"}},
                },
                ["participant", "consent", "referrals", "rewards"],
            ),
            errors={404: "not_found"},
        ),
        ("DELETE", "/api/referral/participants/{participant_id}"): op(
            "Erase a participant (DSGVO Art. 17); anonymous aggregates stay",
            tag="Customer",
            errors={404: "not_found"},
        ),
        ("GET", "/api/referral/conversions"): op(
            "The conversions, oldest first, since a time (cursor pagination)",
            tag="Customer",
            query=[
                query("since", STR, "YYYY-MM-DD or an ISO-8601 time."),
                PARAMETERS["cursor"],
                {
                    **PARAMETERS["limit"],
                    "schema": {**PARAMETERS["limit"]["schema"], "default": 100},
                },
            ],
            response=ok(
                {
                    "items": {"type": "array", "items": ref("ConversionItem")},
                    "next_cursor": CURSOR,
                }
            ),
            errors={400: "invalid_date / invalid_cursor / invalid_limit"},
        ),
        ("GET", "/api/referral/daily-stats"): op(
            "Daily numbers for a date range (default: the last 30 days)",
            tag="Customer",
            query=[
                query("from", DATE, "YYYY-MM-DD"),
                query("to", DATE, "YYYY-MM-DD; at most 366 days after `from`."),
            ],
            response=ok({"days": {"type": "array", "items": ref("DailyRow")}}),
            errors={400: "invalid_date / invalid_range"},
        ),
        # --- admin API ---
        ("GET", "/api/referral/get-overview"): op(
            "All programs at a glance",
            tag="Admin",
            response=ok(
                {
                    "programs_active": COUNT,
                    "customers": COUNT,
                    "suspended": COUNT,
                    "clicks": COUNT,
                    "unique_clicks": COUNT,
                    "conversions": COUNT,
                    "leads": COUNT,
                    "confirmed_leads": COUNT,
                    "avg_conversion_rate": NUM,
                    "top_performers": {
                        "type": "array",
                        "items": obj(
                            {
                                "customer_id": INT,
                                "company_name": STR,
                                "conversions": COUNT,
                                "conversion_rate": NUM,
                            }
                        ),
                    },
                    "fraud": obj(
                        {
                            "suspicious_conversions": COUNT,
                            "suspicious_rate": NUM,
                            "rate_limit_blocks": COUNT,
                            "duplicate_ips": COUNT,
                        }
                    ),
                },
                [
                    "programs_active",
                    "clicks",
                    "conversions",
                    "leads",
                    "avg_conversion_rate",
                    "top_performers",
                    "fraud",
                ],
            ),
        ),
        ("GET", "/api/referral/get-customer-details"): op(
            "One customer: totals, last 30 days, daily series, participants, recent fraud",
            tag="Admin",
            query=[{**query("customer_id", {"type": "integer", "minimum": 1}), "required": True}],
            response=ok(
                {
                    "customer": ref("AdminCustomer"),
                    "totals": ref("Stats"),
                    "last_30_days": ref("Stats"),
                    "trend_7d": ref("Trend"),
                    "fraud_share": NUM,
                    "daily": {"type": "array", "items": ref("DailyRow")},
                    "participants": COUNT,
                    "participants_by_status": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                    "recent_fraud": {"type": "array", "items": ref("FraudEntry")},
                },
                ["customer", "totals", "last_30_days", "daily", "participants", "recent_fraud"],
            ),
            errors={400: "validation_failed", 404: "unknown_customer"},
        ),
        ("GET", "/api/referral/get-fraud-log"): op(
            "The fraud log, newest first",
            tag="Admin",
            query=[
                query("customer_id", {"type": "integer", "minimum": 1}),
                query("type", STR, "A fraud type, e.g. fast_conversion."),
                query("since", DATE),
                query("until", DATE),
                query("reviewed", {"type": "string", "enum": ["open", "reviewed"]}),
                PAGE,
            ],
            response=ok({"items": {"type": "array", "items": ref("FraudEntry")}, **PAGED}),
            errors={400: "validation_failed"},
        ),
        ("GET", "/api/referral/export-stats"): op(
            "All programs as CSV, one row per customer, header first",
            tag="Admin",
            query=[query("bom", {"type": "string", "enum": ["0", "1"]}, "UTF-8 BOM (Excel).")],
            content_type="text/csv",
        ),
        ("GET", "/api/referral/export-fraud-log"): op(
            "The fraud log as CSV (same filters as get-fraud-log)",
            tag="Admin",
            query=[
                query("customer_id", {"type": "integer", "minimum": 1}),
                query("type", STR),
                query("since", DATE),
                query("until", DATE),
                query("reviewed", {"type": "string", "enum": ["open", "reviewed"]}),
                query("bom", {"type": "string", "enum": ["0", "1"]}),
            ],
            content_type="text/csv",
            errors={400: "validation_failed"},
        ),
        ("GET", "/api/referral/get-customers"): op(
            "The customers with their totals (search, sort, pages)",
            tag="Admin",
            query=[
                query("q", STR, "Company name, program code or a participant's code."),
                query(
                    "sort",
                    {"type": "string", "enum": ["conversions", "rate", "fraud", "name", "newest"]},
                ),
                PAGE,
            ],
            response=ok(
                {
                    "items": {"type": "array", "items": ref("AdminCustomer")},
                    "pages": COUNT,
                    "total": COUNT,
                    **PAGED,
                }
            ),
            errors={400: "validation_failed"},
        ),
        ("POST", "/api/referral/customer-program"): op(
            "Switch a customer's program on or off, suspend or lift a suspension",
            tag="Admin",
            body=obj(
                {
                    "customer_id": {"type": "integer", "minimum": 1},
                    "action": {
                        "type": "string",
                        "enum": ["enable", "disable", "suspend", "unsuspend"],
                    },
                    "reason": {
                        "type": "string",
                        "maxLength": 500,
                        "description": "Required to disable or suspend.",
                    },
                },
                ["customer_id", "action"],
            ),
            response=ok({"customer": ref("AdminCustomer")}),
            errors={400: "validation_failed / reason_required", 404: "unknown_customer"},
        ),
        ("POST", "/api/referral/review-fraud"): op(
            "Mark fraud-log entries as reviewed",
            tag="Admin",
            body=obj({"ids": {"type": "array", "items": INT, "maxItems": 500}}),
            response=ok({"reviewed": COUNT}),
            errors={400: "validation_failed"},
        ),
        ("GET", "/api/referral/fraud-backtest"): op(
            "What a fraud rule would flag with another threshold (last 90 days)",
            tag="Admin",
            query=[
                {
                    **query(
                        "rule",
                        {
                            "type": "string",
                            "enum": [
                                "fast_conversion",
                                "ip_daily_limit",
                                "conversion_rate_limit",
                            ],
                        },
                    ),
                    "required": True,
                },
                query("threshold", NUM),
                query("days", {"type": "integer", "minimum": 1, "maximum": 365}),
            ],
            response=ok(
                {
                    "rule": STR,
                    "threshold": NUM,
                    "current_threshold": NUM,
                    "days": INT,
                    "since": nullable(DATE_TIME),
                    "events": COUNT,
                    "candidate": {"type": "object"},
                    "current": {"type": "object"},
                    "difference": INT,
                    "logged": COUNT,
                    "by_customer": {"type": "array", "items": {"type": "object"}},
                },
                ["rule", "threshold", "current_threshold", "candidate", "current"],
            ),
            errors={400: "validation_failed"},
        ),
        ("GET", "/api/referral/get-audit-log"): op(
            "The admin audit trail, newest first",
            tag="Admin",
            query=[
                query("action", STR, "e.g. program.suspend"),
                query("user_id", {"type": "integer", "minimum": 1}),
                query("target_type", STR),
                query("target_id", {"type": "integer", "minimum": 1}),
                PAGE,
            ],
            response=ok(
                {
                    "items": {
                        "type": "array",
                        "items": obj(
                            {
                                "id": INT,
                                "action": STR,
                                "user_id": nullable(INT),
                                "user_email": nullable(STR),
                                "target_type": nullable(STR),
                                "target_id": nullable(INT),
                                "details": {"type": "object", "additionalProperties": True},
                                "created_at": nullable(DATE_TIME),
                            }
                        ),
                    },
                    **PAGED,
                }
            ),
            errors={400: "validation_failed"},
        ),
    }
)


# The sign-up confirmation also answers people in a browser: HTML pages and a redirect.
OPERATIONS[("GET", "/api/referral/confirm-lead")]["responses"]["400"] = {
    "description": "An invalid or expired link: an HTML page saying so.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
OPERATIONS[("POST", "/api/referral/confirm-lead")]["responses"]["303"] = {
    "description": "A form post: on to the participant's page."
}


# --- The generator ------------------------------------------------------------------------


def openapi_path(rule: Rule) -> str:
    """`/x/<int:id>` → `/x/{id}`."""
    return _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule.rule)


def _path_parameters(rule: Rule) -> list[Schema]:
    parameters = []
    for name in _ARGUMENT.findall(rule.rule):
        converter = rule._converters.get(name)  # noqa: SLF001 - werkzeug keeps them here
        if isinstance(converter, IntegerConverter):
            schema: Schema = {"type": "integer", "minimum": 0}
            if converter.min is not None:
                schema["minimum"] = converter.min
            if converter.max is not None:
                schema["maximum"] = converter.max
        else:
            schema = {"type": "string", "pattern": "^[^/]+$", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def api_routes(app: Flask) -> list[tuple[str, str, Rule]]:
    """Every (METHOD, OpenAPI path, rule) under /api/ that the app really serves."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append((method, openapi_path(rule), rule))
    return sorted(found, key=lambda item: (item[1], item[0]))


def undocumented(app: Flask) -> list[str]:
    """`METHOD /path` of every /api/ route with no entry in OPERATIONS (must stay empty)."""
    return [f"{m} {p}" for m, p, _rule in api_routes(app) if (m, p) not in OPERATIONS]


def stale(app: Flask) -> list[str]:
    """Entries in OPERATIONS whose route no longer exists."""
    served = {(m, p) for m, p, _rule in api_routes(app)}
    return [f"{m} {p}" for (m, p) in OPERATIONS if (m, p) not in served]


def _finish(operation: dict[str, Any], rule: Rule, method: str) -> dict[str, Any]:
    operation = copy.deepcopy(operation)
    operation["operationId"] = f"{rule.endpoint}_{method.lower()}".replace(".", "_")
    blueprint = rule.endpoint.split(".", 1)[0]
    path_parameters = _path_parameters(rule)
    if path_parameters:
        operation["parameters"] = path_parameters + operation.get("parameters", [])
    responses = operation["responses"]
    if blueprint in SECURED_BLUEPRINTS:
        operation["security"] = [{"bearerAuth": []}, {"sessionCookie": []}]
        responses.setdefault("401", {"$ref": "#/components/responses/Error"})
        responses.setdefault("403", {"$ref": "#/components/responses/Error"})
    else:
        operation["security"] = []
    # Any client error is the documented error body (400 bad input, 404, 413, 415, 429 …).
    responses.setdefault("4XX", {"$ref": "#/components/responses/Error"})
    return operation


DESCRIPTION = """\
The referral program's HTTP API. Every JSON answer carries `"ok": true|false`; errors are
`{"ok": false, "error": "<snake_case_code>", "message": "…"}` with a 4xx status.

- **Public API**: no authentication, CORS open; called by `referral-tracking.js`.
- **Customer API**: a customer's session or `Authorization: Bearer <API key>`.
- **Admin API**: an admin's session or an admin API key.
- **Webhooks**: POSTs to the customer's endpoints, signed per standardwebhooks.com
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`); the body is the
  `WebhookPayload` schema. See docs/webhooks.md for verification in Python and JavaScript.
"""


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for `app` (only routes it serves and that are described)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, rule in api_routes(app):
        operation = OPERATIONS.get((method, path))
        if operation is None:
            continue
        paths.setdefault(path, {})[method.lower()] = _finish(operation, rule, method)
    base_url = str(app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Referral program API", "version": "1.0", "description": DESCRIPTION},
        "servers": [{"url": base_url or "/"}],
        "tags": [
            {"name": "Public", "description": "Tracking and sign-up, no authentication."},
            {"name": "Customer", "description": "A customer's program, stats and data."},
            {"name": "Webhooks", "description": "Webhook endpoints and their delivery log."},
            {"name": "Admin", "description": "The platform operator's view."},
            {"name": "Meta", "description": "This documentation."},
        ],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": {
                "Error": {
                    "description": "An error (see `error` for the code).",
                    "content": {"application/json": {"schema": ref("Error")}},
                }
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`rk_…`), made in the dashboard or with "
                    "`flask create-customer --api-key`.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "A dashboard login; writes then need the `X-CSRFToken` header.",
                },
            },
        },
    }


# --- The readable page (/api/docs) --------------------------------------------------------


def _resolve(schema: Schema, document: dict[str, Any]) -> tuple[Schema, str | None]:
    """(the schema behind a `$ref`, its name) or (the schema, None)."""
    name = None
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema, name


def type_label(schema: Schema, document: dict[str, Any]) -> str:
    """A short type for the docs page: `integer`, `string (date-time)`, `WebhookDelivery[]`."""
    resolved, name = _resolve(schema, document)
    if resolved.get("type") == "array":
        label = type_label(resolved.get("items", {}), document) + "[]"
    elif name and resolved.get("type") == "object":
        label = name
    else:
        label = str(resolved.get("type", "any"))
        if resolved.get("format"):
            label += f" ({resolved['format']})"
        if resolved.get("enum"):
            label += ": " + " | ".join(str(v).lower() for v in resolved["enum"])
    if resolved.get("nullable"):
        label += " or null"
    return label


def fields(
    schema: Schema, document: dict[str, Any], prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """The properties of a body as rows (nested objects and arrays of objects flattened to
    `items[].id`), for the docs page."""
    resolved, _name = _resolve(schema, document)
    if resolved.get("type") == "array":
        return fields(resolved.get("items", {}), document, prefix + "[]", depth)
    rows: list[dict[str, Any]] = []
    required = set(resolved.get("required", []))
    for key, prop in (resolved.get("properties") or {}).items():
        target, _ = _resolve(prop, document)
        rows.append(
            {
                "name": f"{prefix}.{key}" if prefix else key,
                "type": type_label(prop, document),
                "required": key in required,
                "description": target.get("description") or prop.get("description") or "",
            }
        )
        inner = target.get("items", {}) if target.get("type") == "array" else target
        inner, _ = _resolve(inner, document)
        if depth < 2 and inner.get("type") == "object" and inner.get("properties"):
            suffix = "[]" if target.get("type") == "array" else ""
            rows.extend(fields(inner, document, rows[-1]["name"] + suffix, depth + 1))
    return rows


def sections(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document grouped by tag, each operation with its fields as rows."""
    by_tag: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in document["tags"]}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            body_schema = next(iter(body.values()), {}).get("schema") if body else None
            responses = []
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    response = document["components"]["responses"][name]
                content = response.get("content", {})
                media, media_body = next(iter(content.items()), (None, {}))
                schema = media_body.get("schema") if media_body else None
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "media_type": media,
                        "fields": fields(schema, document)
                        if schema and media == "application/json" and status.startswith("2")
                        else [],
                    }
                )
            tag = operation["tags"][0]
            by_tag.setdefault(tag, []).append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "description": operation.get("description", ""),
                    "secured": bool(operation.get("security")),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": type_label(p.get("schema", {}), document),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "body": fields(body_schema, document) if body_schema else [],
                    "responses": responses,
                }
            )
    descriptions = {t["name"]: t["description"] for t in document["tags"]}
    return [
        {"tag": tag, "description": descriptions.get(tag, ""), "operations": ops}
        for tag, ops in by_tag.items()
        if ops
    ]
