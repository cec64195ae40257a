"""What the JSON API takes: one model per request body or query string (API.md).

Limits the domain already keeps are imported, never restated, so the check and the
OpenAPI document follow when a limit changes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from flask_babel import gettext as _
from pydantic import BeforeValidator, Field, StrictBool, StringConstraints, WithJsonSchema

from ...accounts import company, freebie
from ...models.reward import REWARD_KINDS
from ...participants import addresses, names
from ...reporting import admin_customers, fraud_log
from ...rewards import codes as reward_codes
from ...rewards import fulfilment, milestones
from ...tracking import owners
from ...webhooks.endpoints import EVENTS
from ...webhooks.urls import MAX_URL_LENGTH
from .base import RequestModel

# The company form's limits as the service keeps them: name → maximum length.
COMPANY_LIMITS = {name: limit for name, _required, limit in company.TEXT_FIELDS}
FREEBIE_LIMITS = {name: limit for name, _required, limit in freebie.FREEBIE_FIELDS}
# The reward editor's text limits (the service keeps them inside `milestones.validate`).
REWARD_LIMITS = {"tier": 50, "title": 200, "description": 2000, "delivery": 2000}


def _text(limit: int, *, required: bool = False) -> Any:
    """Text of at most `limit` characters, surrounding blanks ignored (as the services do)."""
    return StringConstraints(strip_whitespace=True, max_length=limit, min_length=int(required))


def _crlf(value: Any) -> Any:
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


def _as_list(value: Any) -> Any:
    """One value where a list belongs: a list of one (a form with one checkbox)."""
    return value if isinstance(value, list) or value is None else [value]


def _split_events(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _split_hosts(value: Any) -> Any:
    """Host names as one string (a form's textarea): separated by commas, blanks or lines."""
    return value.replace(",", " ").split() if isinstance(value, str) else value


def _lenient(schema: dict[str, Any]) -> Any:
    """A field the service reads leniently (a mangled value is ignored, not refused):
    documented as `schema`, taken as sent."""
    return WithJsonSchema(schema)


Ref = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=f"^{owners.REF_PATTERN.pattern}$"),
    Field(description="A referral code: a program's code (REF…) or a participant's."),
]
Page = Annotated[
    Any,
    _lenient({"type": "string", "description": "The page's URL (reduced to scheme://host/path)."}),
]
WebhookEvent = Literal[EVENTS]


def _ref_message(ctx: dict[str, Any]) -> str:
    return _("This is not a valid referral code.")


class TrackClick(RequestModel):
    ref: Ref
    page: Page = None

    codes: ClassVar = {"ref": "invalid_ref"}
    messages: ClassVar = {"ref": _ref_message}


class TrackConversion(TrackClick):
    click_id: Annotated[
        Any,
        _lenient(
            {
                "type": "integer",
                "minimum": 1,
                "description": "The click this conversion follows; a mangled id is ignored.",
            }
        ),
    ] = None


class RegisterLead(RequestModel):
    ref: Ref
    email: Annotated[str, _text(addresses.MAX_EMAIL_LENGTH, required=True)]
    consent: Annotated[
        Any,
        _lenient(
            {"type": "boolean", "enum": [True], "description": "Must be true (or a form's on)."}
        ),
    ]
    name: Annotated[str, _text(names.MAX_NAME_LENGTH)] | None = None
    page: Annotated[str, _text(2000)] | None = None
    consent_version: Annotated[str, _text(64)] | None = None

    codes: ClassVar = {
        "ref": "invalid_ref",
        "email": "invalid_email",
        "consent": "consent_required",
    }
    messages: ClassVar = {
        "ref": lambda ctx: _("The referral code is missing or malformed."),
        "email": lambda ctx: _("Please enter a valid e-mail address (at most 254 characters)."),
        "consent": lambda ctx: _("Please agree to take part in the referral program."),
        "page": lambda ctx: _("too long") if "max_length" in ctx else _("must be text"),
        "consent_version": lambda ctx: _("too long") if "max_length" in ctx else _("must be text"),
    }


class ConfirmToken(RequestModel):
    token: str | None = Field(None, description="The token from the confirmation mail.")

    codes: ClassVar = {"token": "invalid_token"}
    messages: ClassVar = {"token": lambda ctx: _("This link is not valid (any more).")}


class Toggle(RequestModel):
    enabled: Annotated[
        Any, _lenient({"type": "boolean", "description": "true/false (a form: 1/0, on/off)."})
    ]

    messages: ClassVar = {"enabled": lambda ctx: _("on or off (true or false)")}


class CompanyDetails(RequestModel):
    company_name: Annotated[str, _text(COMPANY_LIMITS["company_name"], required=True)]
    contact_email: Annotated[str, _text(COMPANY_LIMITS["contact_email"], required=True)]
    imprint: Annotated[
        str,
        BeforeValidator(_crlf),
        _text(COMPANY_LIMITS["imprint"], required=True),
        Field(description="The Impressum, shown in every e-mail."),
    ]
    website: Annotated[str, _text(COMPANY_LIMITS["website"])] | None = None
    sender_name: Annotated[str, _text(COMPANY_LIMITS["sender_name"])] | None = None
    language: Annotated[Literal[company.LANGUAGES] | None, BeforeValidator(_blank_is_none)] = None
    privacy_url: Annotated[str, _text(company.MAX_URL)] | None = Field(
        None, description="The https address of the privacy notice (Art. 13 DSGVO)."
    )
    time_zone: Annotated[str, _text(company.MAX_TIME_ZONE)] | None = Field(
        None, description="An IANA time zone; empty: Europe/Berlin.", examples=["Europe/Berlin"]
    )
    accent_color: Annotated[str, _text(7)] | None = Field(
        None, description="`#rrggbb`; empty: the default.", examples=["#0b5cad"]
    )
    allowed_domains: (
        Annotated[
            list[Annotated[str, _text(company.MAX_DOMAIN)]],
            BeforeValidator(_split_hosts),
            Field(max_length=company.MAX_DOMAINS),
        ]
        | None
    ) = Field(None, description="Host names whose pages may count conversions; empty: no check.")

    messages: ClassVar = {
        "allowed_domains": lambda ctx: _("A list of host names, like example.com."),
    }
    domain_check: ClassVar = staticmethod(company.validate_company)


class FreebieInput(RequestModel):
    title: Annotated[str, _text(FREEBIE_LIMITS["title"], required=True)]
    description: (
        Annotated[str, BeforeValidator(_crlf), _text(FREEBIE_LIMITS["description"])] | None
    ) = None
    url: Annotated[str, _text(FREEBIE_LIMITS["url"])] | None = Field(
        None,
        description="Where the thank-you page sends the visitor (required unless a file was "
        "uploaded in the dashboard).",
    )

    domain_check: ClassVar = staticmethod(freebie.validate_freebie)


Threshold = Annotated[int, Field(ge=1, le=milestones.MAX_THRESHOLD), BeforeValidator(_no_bool)]


RewardKind = Literal[REWARD_KINDS]
AmountCents = Annotated[int, Field(ge=1, le=milestones.MAX_AMOUNT_CENTS), BeforeValidator(_no_bool)]
HoldDays = Annotated[int, Field(ge=0, le=milestones.MAX_HOLD_DAYS), BeforeValidator(_no_bool)]
FULFILMENT_MESSAGES = {
    "kind": lambda ctx: _("Choose text, code, download or cash."),
    "amount_cents": lambda ctx: _("An amount in euros between 0.01 and 10,000."),
    "hold_days": lambda ctx: _(
        "A whole number of days from 0 to %(n)d.", n=milestones.MAX_HOLD_DAYS
    ),
    "manual_approval": lambda ctx: _("Send true or false."),
}


class RewardInput(RequestModel):
    threshold: Threshold
    tier: Annotated[str, _text(REWARD_LIMITS["tier"], required=True)] = Field(examples=["Bronze"])
    title: Annotated[str, _text(REWARD_LIMITS["title"], required=True)]
    description: Annotated[str, _text(REWARD_LIMITS["description"])] | None = None
    delivery: Annotated[str, _text(REWARD_LIMITS["delivery"])] | None = Field(
        None, description="Text, link or coupon shown in the reward mail (kind `text`)."
    )
    kind: RewardKind = Field(
        "text",
        description="`text`: the `delivery` text; `code`: one code from the reward's code bank "
        "(`POST …/rewards/{id}/codes`); `download`: a file uploaded in the dashboard, behind a "
        "per-participant link; `cash`: `amount_cents` EUR, paid out later.",
    )
    amount_cents: AmountCents | None = Field(None, description="Cents (EUR); required for cash.")
    hold_days: HoldDays = Field(
        milestones.DEFAULT_HOLD_DAYS,
        description="Days a reward is held (pending) before it is delivered; a referral "
        "flagged meanwhile takes it back. 0: delivered at once.",
    )
    manual_approval: StrictBool = Field(
        False, description="Pending rewards wait for the customer's approval."
    )

    messages: ClassVar = {
        "threshold": lambda ctx: _("A whole number of at least 1."),
        **FULFILMENT_MESSAGES,
    }
    domain_check: ClassVar = staticmethod(milestones.validate)


class RewardChange(RequestModel):
    """Edit a reward: the fields sent replace the stored ones."""

    threshold: Threshold | None = None
    tier: Annotated[str, _text(REWARD_LIMITS["tier"], required=True)] | None = None
    title: Annotated[str, _text(REWARD_LIMITS["title"], required=True)] | None = None
    description: Annotated[str, _text(REWARD_LIMITS["description"])] | None = None
    delivery: Annotated[str, _text(REWARD_LIMITS["delivery"])] | None = None
    kind: RewardKind | None = None
    amount_cents: AmountCents | None = None
    hold_days: HoldDays | None = None
    manual_approval: StrictBool | None = None

    messages: ClassVar = RewardInput.messages


class RewardCodes(RequestModel):
    # `codes` is the body's key; the attribute has another name, since `codes` is taken by
    # RequestModel's field → error code table.
    code_list: Annotated[
        list[Any], Field(min_length=1, max_length=reward_codes.MAX_CODES_PER_REQUEST)
    ] = Field(alias="codes", description="Single-use codes; ones already in the bank are ignored.")

    messages: ClassVar = {
        "codes": lambda ctx: _(
            "Send a list of 1 to %(n)d codes.", n=reward_codes.MAX_CODES_PER_REQUEST
        )
    }


class GrantDecision(RequestModel):
    reason: Annotated[str, StringConstraints(max_length=fulfilment.MAX_REASON)] | None = Field(
        None, description="Required to reject: shown to the participant."
    )

    messages: ClassVar = {
        "reason": lambda ctx: _(
            "Please give a reason (at most %(n)d characters).", n=fulfilment.MAX_REASON
        )
    }


class RewardOrder(RequestModel):
    ids: Annotated[list[int], BeforeValidator(_as_list)] = Field(
        description="Every reward id once, in the wanted order."
    )

    messages: ClassVar = {"ids": lambda ctx: _("must list every reward once")}


class WebhookInput(RequestModel):
    url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] = Field(
        examples=["https://example.com/hooks"]
    )
    events: Annotated[list[WebhookEvent], BeforeValidator(_split_events), Field(min_length=1)]

    codes: ClassVar = {"url": "invalid_webhook_url"}
    messages: ClassVar = {
        "url": lambda ctx: (
            _("Enter a URL of at most %(n)d characters.", n=MAX_URL_LENGTH)
            if "max_length" in ctx
            else _("Enter the URL that should receive the webhooks.")
        ),
        "events": lambda ctx: (
            _("Choose at least one event.")
            if "min_length" in ctx or not ctx
            else _("Unknown event. Known events: %(events)s", events=", ".join(EVENTS))
        ),
    }


class WebhookChange(RequestModel):
    url: Annotated[str, StringConstraints(max_length=MAX_URL_LENGTH)] | None = None
    events: (
        Annotated[list[WebhookEvent], BeforeValidator(_split_events), Field(min_length=1)] | None
    ) = None
    enabled: StrictBool | None = Field(
        None, description="Switching on clears the failure state and checks the URL again."
    )

    codes: ClassVar = WebhookInput.codes
    messages: ClassVar = {**WebhookInput.messages, "enabled": lambda ctx: _("Send true or false.")}


class ProgramAction(RequestModel):
    customer_id: Annotated[int, Field(ge=1), BeforeValidator(_no_bool)]
    action: Literal[admin_customers.PROGRAM_ACTIONS]
    reason: Annotated[str, StringConstraints(max_length=admin_customers.MAX_REASON)] | None = Field(
        None, description="Required to disable or suspend."
    )


class FraudReview(RequestModel):
    ids: Annotated[
        list[Annotated[int, Field(ge=1), BeforeValidator(_no_bool)]],
        BeforeValidator(_as_list),
        Field(max_length=fraud_log.MAX_REVIEW_IDS),
    ]
