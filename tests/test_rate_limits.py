"""Per-account limits (issue 14, item 5): the customer API per customer, the admin API per
admin, webhook test events and replays per customer (dashboard and API share a bucket).
A customer at the limit gets 429 `rate_limited` with Retry-After; another customer, the
public tracking API and the limited customer's other keys are judged on their own."""

from __future__ import annotations

import pytest

from referral_app.accounts import users as accounts
from referral_app.extensions import db
from referral_app.models import User
from referral_app.webhooks import deliveries, endpoints

from .conftest import api_key_for
from .support_browser import (  # noqa: F401
    browser_page,
    chromium_browser,
    screenshot,
    serve,
    wait_htmx_ready,
)
from .support_customer import csrf_from
from .support_security import login


def limited(make_app, **limits: str):
    return make_app(RATELIMIT_ENABLED=True, WEBHOOK_ALLOW_PRIVATE=True, **limits)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_rate_limited(answer) -> None:
    assert answer.status_code == 429
    assert answer.get_json()["ok"] is False
    assert answer.get_json()["error"] == "rate_limited"
    assert int(answer.headers["Retry-After"]) > 0


def other_customer(app) -> dict:
    with app.app_context():
        customer, user = accounts.create_customer("zweite@example.com", "geheimes-passwort", "B")
        return {"id": customer.id, "user_id": user.id, "email": "zweite@example.com"}


def add_endpoint(app, customer_id: int) -> int:
    with app.app_context():
        endpoint, _secret = endpoints.create_endpoint(
            customer_id, "http://127.0.0.1:9/h", ["click"]
        )
        return endpoint.id


def test_the_customer_api_is_limited_per_customer(make_app, customer):
    app = limited(make_app, RATELIMIT_CUSTOMER_API="3/minute")
    first, second = api_key_for(app, customer["user_id"]), api_key_for(app, customer["user_id"])
    client = app.test_client()
    answers = [client.get("/api/referral/get-stats", headers=bearer(first)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]

    assert_rate_limited(client.get("/api/referral/get-stats", headers=bearer(first)))
    # The customer's other key shares the bucket, and so does their session login.
    assert_rate_limited(client.get("/api/referral/rewards", headers=bearer(second)))
    session = app.test_client()
    login(session, customer["email"], customer["password"])
    assert_rate_limited(session.get("/api/referral/get-stats"))

    # Another customer, from the same address, and the public tracking API are not affected.
    other = other_customer(app)
    other_key = api_key_for(app, other["user_id"])
    assert client.get("/api/referral/get-stats", headers=bearer(other_key)).status_code == 200
    click = client.post("/api/referral/track-click", json={"ref": customer["ref_code"]})
    assert click.status_code == 200


def test_requests_without_a_valid_key_are_limited_per_client(make_app, customer):
    app = limited(make_app, RATELIMIT_CUSTOMER_API="2/minute")
    client = app.test_client()
    wrong = bearer("rk_not-a-key")
    assert [client.get("/api/referral/get-stats", headers=wrong).status_code for _ in range(2)] == [
        401,
        401,
    ]
    assert_rate_limited(client.get("/api/referral/get-stats", headers=wrong))


def test_the_admin_api_is_limited_per_admin(make_app):
    app = limited(make_app, RATELIMIT_ADMIN_API="2/minute")
    with app.app_context():
        keys = []
        for n in range(2):
            admin = accounts.create_admin(f"admin{n}@example.com", "admin-passwort")
            keys.append(accounts.create_api_key(db.session.get(User, admin.id), "k")[1])
    client = app.test_client()
    for _ in range(2):
        assert client.get("/api/referral/get-overview", headers=bearer(keys[0])).status_code == 200
    assert_rate_limited(client.get("/api/referral/get-overview", headers=bearer(keys[0])))
    assert client.get("/api/referral/get-overview", headers=bearer(keys[1])).status_code == 200


def test_webhook_test_events_are_limited_per_customer_across_api_and_dashboard(make_app, customer):
    app = limited(make_app, RATELIMIT_WEBHOOK_TESTS="2/minute")
    endpoint_id = add_endpoint(app, customer["id"])
    key = api_key_for(app, customer["user_id"])
    client = app.test_client()
    path = f"/api/referral/webhooks/{endpoint_id}/test"
    assert client.post(path, headers=bearer(key)).status_code == 202

    browser = app.test_client()
    login(browser, customer["email"], customer["password"])
    with app.app_context():
        user = db.session.get(User, customer["user_id"])
        user.locale = "en"
        db.session.commit()
    detail = f"/dashboard/webhooks/{endpoint_id}"
    token = csrf_from(browser.get(detail).get_data(as_text=True))
    assert browser.post(f"{detail}/test", data={"csrf_token": token}).status_code == 303

    # The third test event of the minute: refused on both ways, the other calls still work.
    assert_rate_limited(client.post(path, headers=bearer(key)))
    refused = browser.post(f"{detail}/test", data={"csrf_token": token}, follow_redirects=True)
    assert refused.status_code == 200
    page = refused.get_data(as_text=True)
    assert 'class="flash flash-error"' in page
    assert "You have sent several test events in a short time" in page
    with app.app_context():
        sent = deliveries.list_deliveries(customer["id"], endpoint_id)[0]
    assert len(sent) == 2  # the refused ones were not queued
    listed = client.get(f"/api/referral/webhooks/{endpoint_id}/deliveries", headers=bearer(key))
    assert listed.status_code == 200

    other = other_customer(app)
    other_endpoint = add_endpoint(app, other["id"])
    other_key = api_key_for(app, other["user_id"])
    answer = client.post(f"/api/referral/webhooks/{other_endpoint}/test", headers=bearer(other_key))
    assert answer.status_code == 202


def test_webhook_replays_are_limited_per_customer(make_app, customer):
    app = limited(make_app, RATELIMIT_WEBHOOK_REPLAYS="1/minute")
    endpoint_id = add_endpoint(app, customer["id"])
    with app.app_context():
        delivery_id = deliveries.send_test(customer["id"], endpoint_id)
    key = api_key_for(app, customer["user_id"])
    client = app.test_client()
    path = f"/api/referral/webhook-deliveries/{delivery_id}/replay"
    assert client.post(path, headers=bearer(key)).status_code == 202
    assert_rate_limited(client.post(path, headers=bearer(key)))

    browser = app.test_client()
    login(browser, customer["email"], customer["password"])
    detail = f"/dashboard/webhooks/{endpoint_id}"
    token = csrf_from(browser.get(detail).get_data(as_text=True))
    refused = browser.post(
        f"/dashboard/webhook-deliveries/{delivery_id}/replay", data={"csrf_token": token}
    )
    assert refused.status_code == 303
    assert refused.headers["Location"].endswith(detail)
    assert 'class="flash flash-error"' in browser.get(detail).get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_the_dashboard_says_why_a_test_event_was_refused(
    make_app,
    customer,
    browser_page,  # noqa: F811
    width,
):
    app = limited(make_app, RATELIMIT_WEBHOOK_TESTS="1/minute")
    endpoint_id = add_endpoint(app, customer["id"])
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    with serve(app) as base:
        page.goto(f"{base}/login")
        page.fill("#email", customer["email"])
        page.fill("#password", customer["password"])
        page.click("main button[type=submit]")
        page.wait_for_selector("#stats-panel")
        page.goto(f"{base}/dashboard/webhooks/{endpoint_id}")
        wait_htmx_ready(page)
        send = page.locator("form[action$='/test'] button[type=submit]")
        send.click()
        page.wait_for_selector("#flash .flash-success")
        wait_htmx_ready(page)
        send.click()
        message = page.wait_for_selector("#flash .flash-error")
        wait_htmx_ready(page)
        assert message.is_visible()
        box = message.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert page.url.endswith(f"/dashboard/webhooks/{endpoint_id}")
        screenshot(page, f"webhooks-test-limited-{width}")
