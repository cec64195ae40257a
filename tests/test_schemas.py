"""The request models: strict JSON, bounded dates, and limits that are the domain's own,
in the check and in the OpenAPI document alike."""

from __future__ import annotations

import importlib

import pytest

from referral_app import create_app
from referral_app.accounts import company
from referral_app.config import TestConfig
from referral_app.participants import addresses, names
from referral_app.reporting import admin_customers as admin_reports
from referral_app.reporting import fraud_log
from referral_app.rewards import milestones
from referral_app.web import openapi, openapi_routes
from referral_app.web.schemas import base
from referral_app.web.schemas import requests as rq
from referral_app.webhooks import urls

from .conftest import api_key_for

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _bearer(app, user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_for(app, user_id)}"}


# --- strict JSON ----------------------------------------------------------------------------

NOT_JSON_NUMBERS = [
    b'{"ref": "ABC", "click_id": NaN}',
    b'{"ref": "ABC", "click_id": Infinity}',
    b'{"ref": "ABC", "click_id": -Infinity}',
    b'{"ref": "ABC", "click_id": 1e999}',
]


@pytest.mark.parametrize("raw", NOT_JSON_NUMBERS)
def test_nan_and_infinity_are_not_json_on_the_public_api(app, client, customer, raw):
    response = client.post(
        "/api/referral/track-conversion",
        data=raw.replace(b"ABC", customer["ref_code"].encode()),
        content_type="application/json",
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.60"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/referral/rewards", b'{"threshold": NaN, "tier": "B", "title": "t"}'),
        ("/api/referral/toggle", b'{"enabled": Infinity}'),
        ("/api/referral/webhooks", b'{"url": "https://example.com", "events": [NaN]}'),
    ],
)
def test_nan_and_infinity_are_not_json_on_the_customer_api(app, client, customer, path, raw):
    response = client.post(
        path, data=raw, content_type="application/json", headers=_bearer(app, customer["user_id"])
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


def test_the_json_parser_refuses_non_finite_numbers_only():
    assert base.loads(b'{"a": 1.5, "b": [1, 2e10]}') == {"a": 1.5, "b": [1, 2e10]}
    for raw in (b"NaN", b"[Infinity]", b'{"x": -Infinity}', b"1e400"):
        with pytest.raises(ValueError):
            base.loads(raw)


# --- dates in query strings -----------------------------------------------------------------

DATE_NAMES = {"from", "to", "since", "until"}
EXTREME_DATES = [
    "9999-12-31",
    "0001-01-01",
    "1999-12-31",
    "2101-01-01",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2025-02-30",
    "99999-01-01",
]


def _dated_routes() -> list[tuple[str, str]]:
    """(path, parameter) of every GET in the document that takes a date."""
    document = openapi.build(create_app(TestConfig))
    found = []
    for path, methods in document["paths"].items():
        for parameter in methods.get("get", {}).get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in DATE_NAMES:
                found.append((path, parameter["name"]))
    return found


def test_the_dated_routes_are_the_known_ones():
    routes = set(_dated_routes())
    assert {
        ("/api/referral/daily-stats", "from"),
        ("/api/referral/daily-stats", "to"),
        ("/api/referral/conversions", "since"),
        ("/api/referral/get-fraud-log", "since"),
        ("/api/referral/get-fraud-log", "until"),
        ("/api/referral/export-fraud-log", "until"),
    } <= routes


@pytest.mark.parametrize("value", EXTREME_DATES)
def test_extreme_dates_are_a_400_on_every_dated_route(app, customer, admin, value):
    client = app.test_client()
    keys = {
        "customer_api": _bearer(app, customer["user_id"]),
        "admin_api": _bearer(app, admin["id"]),
    }
    document = openapi.build(app)
    for path, name in _dated_routes():
        operation = document["paths"][path]["get"]
        headers = keys[operation["operationId"].split("_api_", 1)[0] + "_api"]
        response = client.get(path, query_string={name: value}, headers=headers)
        assert response.status_code == 400, (path, name, value, response.status_code)
        body = response.get_json()
        assert body["ok"] is False and body["error"] in ("invalid_date", "validation_failed")
        assert name in body["fields"], (path, body)


def test_dates_inside_the_range_still_work(app, client, customer):
    headers = _bearer(app, customer["user_id"])
    response = client.get(
        "/api/referral/daily-stats?from=2100-12-01&to=2100-12-31", headers=headers
    )
    assert response.status_code == 200 and len(response.get_json()["days"]) == 31
    response = client.get("/api/referral/conversions?since=2000-01-01T00:00:00Z", headers=headers)
    assert response.status_code == 200


def test_the_date_parser_bounds():
    assert str(base.parse_date("2025-01-31")) == "2025-01-31"
    assert str(base.parse_date("2025-01-31T12:00:00+02:00", times=True)) == "2025-01-31 10:00:00"
    for text in ("9999-12-31", "1999-12-31", "2025-01-31T12:00:00Z", "31.01.2025", ""):
        with pytest.raises(ValueError):
            base.parse_date(text)


# --- limits: the domain's, in the check and in the document ---------------------------------


def _component(document: dict, model: str, field: str) -> dict:
    schema = document["components"]["schemas"][model]["properties"][field]
    return schema


def test_the_document_states_the_domains_limits():
    document = openapi.build(create_app(TestConfig))
    limits = {name: limit for name, _required, limit in company.TEXT_FIELDS}
    for name, limit in limits.items():
        assert _component(document, "CompanyDetails", name)["maxLength"] == limit, name
    assert limits["imprint"] == company.MAX_IMPRINT
    assert _component(document, "RegisterLead", "email")["maxLength"] == addresses.MAX_EMAIL_LENGTH
    assert _component(document, "RegisterLead", "name")["maxLength"] == names.MAX_NAME_LENGTH
    assert _component(document, "WebhookInput", "url")["maxLength"] == urls.MAX_URL_LENGTH
    assert _component(document, "RewardInput", "threshold")["maximum"] == milestones.MAX_THRESHOLD
    assert _component(document, "FraudReview", "ids")["maxItems"] == fraud_log.MAX_REVIEW_IDS
    assert _component(document, "ProgramAction", "reason")["maxLength"] == admin_reports.MAX_REASON
    actions = _component(document, "ProgramAction", "action")["enum"]
    assert actions == list(admin_reports.PROGRAM_ACTIONS)


def test_a_too_long_company_name_names_the_limit_in_the_field_message(app, client, customer):
    limit = rq.COMPANY_LIMITS["company_name"]
    body = {"company_name": "x" * (limit + 1), "contact_email": "a@example.com", "imprint": "A"}
    response = client.post(
        "/api/referral/update-company",
        json=body,
        headers={**_bearer(app, customer["user_id"]), "Accept-Language": "en"},
    )
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "validation_failed"
    assert set(answer["fields"]) == {"company_name"}
    assert str(limit) in answer["fields"]["company_name"]
    assert "company_name" not in answer["message"]


def test_changing_a_limit_moves_the_check_and_the_document(app, monkeypatch):
    """The models read the domain's constants: change one, and both follow."""
    fields = tuple(
        (name, required, 120 if name == "company_name" else limit)
        for name, required, limit in company.TEXT_FIELDS
    )
    monkeypatch.setattr(company, "TEXT_FIELDS", fields)
    monkeypatch.setattr(urls, "MAX_URL_LENGTH", 300)
    try:
        importlib.reload(rq)
        importlib.reload(openapi_routes)
        importlib.reload(openapi)
        document = openapi.build(app)
        assert _component(document, "CompanyDetails", "company_name")["maxLength"] == 120
        assert _component(document, "WebhookInput", "url")["maxLength"] == 300
        with app.test_request_context(headers={"Accept-Language": "en"}):
            body = {"company_name": "x" * 121, "contact_email": "a@example.com", "imprint": "A"}
            with pytest.raises(base.DomainError) as refused:
                base.validate(rq.CompanyDetails, body)
            assert "120" in refused.value.fields["company_name"]
            with pytest.raises(base.DomainError) as refused:
                base.validate(rq.WebhookInput, {"url": "https://x.example/" + "a" * 300})
            assert refused.value.code == "invalid_webhook_url"
            assert "300" in refused.value.message
    finally:
        monkeypatch.undo()
        importlib.reload(rq)
        importlib.reload(openapi_routes)
        importlib.reload(openapi)


# --- messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
def test_field_errors_speak_the_apps_language_never_pydantics(app, client, customer, language):
    response = client.post(
        "/api/referral/rewards",
        json={"threshold": "drei", "tier": 5, "title": "x" * 500, "description": ["x"]},
        headers={**_bearer(app, customer["user_id"]), "Accept-Language": language},
    )
    assert response.status_code == 400
    answer = response.get_json()
    assert set(answer["fields"]) >= {"threshold", "tier", "title", "description"}
    text = " ".join([answer["message"], *answer["fields"].values()])
    for english in ("Input should", "valid integer", "Field required", "String should"):
        assert english not in text
    for name in ("threshold", "tier", "title", "description"):
        assert name not in answer["message"]


def test_register_lead_field_errors_keep_field_names_out_of_the_message(app, client, customer):
    response = client.post(
        "/api/referral/register-lead",
        json={
            "ref": customer["ref_code"],
            "email": "anna@example.org",
            "consent": True,
            "name": "x" * (names.MAX_NAME_LENGTH + 1),
        },
        headers={"User-Agent": FIREFOX, "Accept-Language": "de"},
        environ_base={"REMOTE_ADDR": "203.0.113.61"},
    )
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "validation_failed" and "name" in answer["fields"]
    assert "name" not in answer["message"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "a@example.org", "consent": True}, "invalid_ref"),
        ({"ref": "ABC;DROP", "email": "a@example.org", "consent": True}, "invalid_ref"),
        ({"ref": "ABC", "email": "x" * 300, "consent": True}, "invalid_email"),
        ({"ref": "ABC", "email": 5, "consent": True}, "invalid_email"),
        ({"ref": "ABC", "email": "a@example.org"}, "consent_required"),
    ],
)
def test_register_lead_keeps_its_own_codes(app, client, customer, body, code):
    response = client.post(
        "/api/referral/register-lead",
        json=body,
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.62"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == code


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_extreme_dates_on_the_admin_fraud_page_are_a_form_error(client, auth, admin, value):
    auth.login(admin["email"], admin["password"])
    response = client.get("/admin/fraud", query_string={"since": value, "until": value})
    assert response.status_code < 500
