"""No cache keeps personal data (issue 14, item 10): a sweep over the URL map requests every
GET route as its owner would (the customer, the admin, the participant with their secret
link) and finds `Cache-Control: no-store` on each, unless the route is public by design
(`web/caching.PUBLIC`) or listed below with the policy its view chose. A new route is
private until someone decides otherwise. Static files and the tracking script stay
cacheable."""

from __future__ import annotations

import pytest

from referral_app.web import caching

from .support_security import build_path, login, make_admin, make_tenant, safe_methods

# Views that chose a policy of their own, without personal data: the live panel's numbers
# (aggregates, revalidated with their ETag) and the QR code of the public program link.
OWN_POLICY = {
    "customer.stats_panel": "private, no-cache",
    "customer.embed_qr": "private, max-age=300",
}


@pytest.fixture
def sweep_app(make_app):
    return make_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_DELAYS=[3600])


def _role(endpoint: str) -> str:
    blueprint = endpoint.split(".")[0]
    return {"customer": "customer", "customer_api": "customer", "admin": "admin"}.get(
        blueprint, "admin" if blueprint == "admin_api" else "anonymous"
    )


def test_every_route_is_private_unless_public_by_design(sweep_app):
    tenant = make_tenant(sweep_app, "a@example.com", "Firma A", 1)
    operator = make_admin(sweep_app)
    clients = {
        "customer": sweep_app.test_client(),
        "admin": sweep_app.test_client(),
        "anonymous": sweep_app.test_client(),
    }
    login(clients["customer"], tenant.email, tenant.password)
    login(clients["admin"], operator["email"], operator["password"])

    endpoints = {rule.endpoint for rule in sweep_app.url_map.iter_rules()}
    assert endpoints >= caching.PUBLIC, "a public endpoint was renamed: update web/caching.py"
    checked = []
    for rule in sweep_app.url_map.iter_rules():
        if not safe_methods(rule) or rule.endpoint == "static":
            continue
        path = build_path(sweep_app, rule, tenant.ids)
        answer = clients[_role(rule.endpoint)].get(path)
        answer.get_data()  # a streamed download runs to its end
        answer.close()
        policy = answer.headers.get("Cache-Control", "")
        where = f"{rule.endpoint} {path} ({answer.status_code})"
        if rule.endpoint in caching.PUBLIC:
            # What the page shows everybody keeps its caching (its error pages need none).
            assert answer.status_code >= 400 or "no-store" not in policy, where
        elif rule.endpoint in OWN_POLICY:
            assert policy == OWN_POLICY[rule.endpoint], where
        else:
            assert policy == "no-store", where
        checked.append(rule.endpoint)
    # The personal-data routes are among them, answered (not just refused).
    assert len(checked) >= 60
    for endpoint in (
        "customer.participants",
        "customer.participants_csv",
        "customer.participant_export",
        "customer_api.participants",
        "customer_api.export_participant",
        "admin.customer",
        "admin_api.get_customer_details",
        "public.hub",
        "public.unsubscribe_page",
        "public_api.confirm_page",
    ):
        assert endpoint in checked


def test_answers_to_writes_and_errors_are_private_too(sweep_app):
    tenant = make_tenant(sweep_app, "a@example.com", "Firma A", 1)
    client = sweep_app.test_client()
    answer = client.post(
        "/api/referral/register-lead",
        json={"ref": tenant.ref_code, "email": "neu@example.org", "consent": True},
    )
    assert answer.status_code == 202
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/dashboard/participants").headers["Cache-Control"] == "no-store"  # login
    missing = client.get("/api/referral/no-such-thing")
    assert (missing.status_code, missing.headers["Cache-Control"]) == (404, "no-store")
    bearer = {"Authorization": f"Bearer {tenant.api_key}"}
    created = client.post(
        "/api/referral/rewards", json={"threshold": 9, "tier": "T"}, headers=bearer
    )
    assert created.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/static/referral-tracking.js", "/static/css/app.css"])
def test_static_files_stay_cacheable(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    assert "no-store" not in answer.headers.get("Cache-Control", "")
    assert answer.headers.get("ETag") or answer.headers.get("Last-Modified")
    again = client.get(path, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304  # the browser keeps it and revalidates
