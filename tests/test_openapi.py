"""The OpenAPI document: complete (every /api/ route described), valid, readable at
/api/docs, and true: real answers validate against it (schemathesis, plus explicit checks
of the webhook answers with data in them)."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from referral_app import create_app, demo
from referral_app.accounts import users as accounts
from referral_app.config import TestConfig
from referral_app.extensions import db
from referral_app.models import User
from referral_app.web import openapi
from referral_app.webhooks import events

from .conftest import api_key_for
from .support_http import http_receiver  # noqa: F401


def test_every_api_route_is_in_the_document():
    app = create_app(TestConfig)
    assert openapi.undocumented(app) == []
    assert openapi.stale(app) == []
    document = openapi.build(app)
    for method, path, _rule in openapi.api_routes(app):
        assert method.lower() in document["paths"][path], f"{method} {path}"


def test_the_document_is_served_and_well_formed(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    refs = set(re.findall(r'"#/components/(\w+)/(\w+)"', response.get_data(as_text=True)))
    for section, name in refs:
        assert name in document["components"][section], name
    for path, methods in document["paths"].items():
        assert path.startswith("/api/")
        for name in re.findall(r"{(\w+)}", path):
            for operation in methods.values():
                declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
                assert name in declared, (path, name)
    schemathesis.openapi.from_dict(document)  # schemathesis accepts it


def test_the_docs_page_lists_every_operation(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    document = client.get("/api/openapi.json").get_json()
    for path, methods in document["paths"].items():
        for method in methods:
            assert f"<code>{method.upper()} {path}</code>" in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/") or url.startswith("#"), url


# --- Answers against the document ----------------------------------------------------------


def _response_schema(document: dict, method: str, path: str, status: int) -> dict:
    responses = document["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status)) or responses[f"{str(status)[0]}XX"]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return _nullable_to_draft4(response["content"]["application/json"]["schema"])


def _nullable_to_draft4(schema):
    """OpenAPI 3.0's `nullable: true` as plain JSON Schema (`type: [T, "null"]`)."""
    if isinstance(schema, list):
        return [_nullable_to_draft4(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable_to_draft4(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def test_webhook_answers_with_data_validate_against_the_document(
    make_app,
    customer,
    http_receiver,  # noqa: F811
):
    app = make_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_DELAYS=[60])
    key = api_key_for(app, customer["user_id"])
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    document = _nullable_to_draft4(client.get("/api/openapi.json").get_json())
    components = {"components": document["components"]}

    def check(method: str, path: str, url: str, expected: int, **kwargs) -> dict:
        response = client.open(url, method=method, headers=headers, **kwargs)
        assert response.status_code == expected, (url, response.get_json())
        schema = _response_schema(document, method, path, expected)
        jsonschema_rs.Draft4Validator({**schema, **components}, validate_formats=True).validate(
            response.get_json()
        )
        return response.get_json()

    base = "/api/referral/webhooks"
    created = check("POST", base, base, 201, json={"url": http_receiver.url, "events": ["click"]})
    endpoint_id = created["id"]
    http_receiver.answer(500)
    with app.app_context():
        events.emit(customer["id"], "click", {"click_id": 1}, customer["ref_code"])
    one = f"{base}/{{endpoint_id}}"
    check("GET", base, base, 200)
    log = check("GET", f"{one}/deliveries", f"{base}/{endpoint_id}/deliveries", 200)
    delivery_id = log["items"][0]["id"]
    assert log["items"][0]["next_retry_at"]  # a pending retry, with its time
    check("POST", f"{one}/test", f"{base}/{endpoint_id}/test", 202)
    check("POST", f"{one}/rotate-secret", f"{base}/{endpoint_id}/rotate-secret", 200)
    check("GET", base, base, 200)
    deliveries = "/api/referral/webhook-deliveries"
    check("GET", f"{deliveries}/{{delivery_id}}", f"{deliveries}/{delivery_id}", 200)
    check(
        "POST",
        f"{deliveries}/{{delivery_id}}/replay",
        f"{deliveries}/{delivery_id}/replay",
        202,
    )
    check("PATCH", one, f"{base}/{endpoint_id}", 200, json={"enabled": False})
    check("POST", f"{one}/test", f"{base}/{endpoint_id}/test", 409)
    check("POST", base, base, 400, json={"url": "ftp://x", "events": ["click"]})
    check("DELETE", one, f"{base}/{endpoint_id}", 200)
    check("DELETE", one, f"{base}/{endpoint_id}", 404)


# --- schemathesis: generated requests, no 5xx, no schema violation --------------------------


@pytest.fixture
def schema_app(make_app):
    """The app as in production (private webhook addresses refused), with the demo data in
    it, so lists and details answer with real items."""
    app = make_app(WEBHOOK_ALLOW_PRIVATE=False, WEBHOOK_RETRY_DELAYS=[60])
    with app.app_context():
        demo.seed()
    return app


def _key_for(app, email: str) -> dict[str, str]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        _row, raw = accounts.create_api_key(user, "schemathesis")
    return {"Authorization": f"Bearer {raw}"}


def _reads_or_webhooks(ctx) -> bool:
    """Every GET, and every webhook operation (their writes touch only this customer)."""
    operation = ctx.operation
    return operation.method.upper() == "GET" or "webhook" in operation.path


# What "the answers match the document" means: no 5xx, and status code, content type and
# body as documented. Not checked everywhere: that every schema-valid request is accepted (a
# well-formed URL can resolve to a refused address, a well-formed cursor can be unknown) and
# that every schema-violating one is refused (the pixel answers a GIF to anything, as the
# contract says) - the webhook operations are held to that second rule too.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_generated_requests_get_documented_answers(schema_app):
    """schemathesis generates valid and invalid requests for every GET and every webhook
    operation and sends them with the demo customer's API key; the admin API's reads are
    sent again with an admin key, so they answer with data too. Bounded (a few examples
    per operation and mode), so it stays well under a minute."""
    customer_key = _key_for(schema_app, demo.DEMO_CUSTOMER["email"])
    admin_key = _key_for(schema_app, demo.DEMO_ADMIN["email"])
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", schema_app).include(
        _reads_or_webhooks
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        checks = CHECKS + ([negative_data_rejection] if "webhook" in operation.path else [])
        keys = [customer_key]
        if "Admin" in (operation.definition.raw.get("tags") or []):
            keys.append(admin_key)
        for headers in keys:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _explore(operation, mode, checks, headers)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE  # nothing to get wrong in it


def _explore(operation, mode, checks, headers) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    call()


@pytest.mark.parametrize("number", [2**63 - 1, 2**64, 10**30])
def test_huge_ids_in_any_path_are_a_4xx_never_a_5xx(app, customer, number):
    """Every route with an `<int:…>` part, API and pages: ids beyond a 64-bit column do not
    match (404), the largest one is looked up and simply not found."""
    key = api_key_for(app, customer["user_id"])
    client = app.test_client()
    tried = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = re.sub(r"<int:[^>]+>", str(number), rule.rule)
        path = re.sub(r"<[^>]+>", "x", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(
                path, method=method, headers={"Authorization": f"Bearer {key}"}, json={}
            )
            assert response.status_code < 500, (method, path, response.status_code)
            tried += 1
    assert tried >= 10


def test_the_docs_page_sets_no_cookie(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers.getlist("Set-Cookie") == []
