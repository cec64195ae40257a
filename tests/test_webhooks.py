"""Webhooks end to end: real HTTP receivers on 127.0.0.1, verified with the
`standardwebhooks` library, retries driven by the periodic sweep under time travel."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from referral_app.accounts import users as accounts
from referral_app.extensions import db
from referral_app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from referral_app.webhooks import deliveries as webhook_deliveries
from referral_app.webhooks import endpoints, events, signing, urls

from .conftest import api_key_for
from .support_http import http_receiver, mail_text, second_receiver, smtp_sink  # noqa: F401

pytestmark = pytest.mark.both_backends  # delivery leases and the sweep's locking

DELAYS = [60, 120, 240]  # 4 attempts in all


@pytest.fixture
def hook_app(make_app, customer, smtp_sink):  # noqa: F811
    """The app with private addresses allowed (the receiver is on loopback), short retry
    delays, a short timeout and mail going to the SMTP sink."""
    return make_app(
        WEBHOOK_ALLOW_PRIVATE=True,
        WEBHOOK_RETRY_DELAYS=DELAYS,
        WEBHOOK_TIMEOUT=1,
        MAIL_SUPPRESS_SEND=False,
        MAIL_SERVER=smtp_sink.host,
        MAIL_PORT=smtp_sink.port,
    )


@pytest.fixture
def key(app, customer) -> str:
    return api_key_for(app, customer["user_id"])


@pytest.fixture
def customer_b(app):
    with app.app_context():
        other, user = accounts.create_customer("b@example.com", "b-passwort-1", "B GmbH")
        _, raw = accounts.create_api_key(user, "b")
        return {"id": other.id, "user_id": user.id, "key": raw}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_endpoint(app, key: str, url: str, events_: list[str] | None = None) -> dict:
    response = app.test_client().post(
        "/api/referral/webhooks",
        json={"url": url, "events": events_ or ["click", "conversion"]},
        headers=bearer(key),
    )
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"  # it carries the secret
    return response.get_json()


def emit(app, customer: dict, event_name: str = "click", data: dict | None = None) -> None:
    with app.app_context():
        events.emit(customer["id"], event_name, data or {"click_id": 7}, customer["ref_code"])


def deliveries(app) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return list(rows)


def attempts(app, delivery_id: int) -> list[tuple[int, int | None, str | None]]:
    with app.app_context():
        rows = db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.attempt)
        ).all()
        return [(a.attempt, a.status_code, a.error) for a in rows]


def endpoint_row(app, endpoint_id: int) -> WebhookEndpoint:
    with app.app_context():
        row = db.session.get(WebhookEndpoint, endpoint_id)
        db.session.expunge(row)
        return row


def sweep(app) -> int:
    with app.app_context():
        return webhook_deliveries.retry_due()


# --- Signing and the payload ------------------------------------------------------------


def test_delivery_verifies_with_the_standardwebhooks_library(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    created = add_endpoint(hook_app, key, http_receiver.url)
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32

    emit(hook_app, customer, "click", {"click_id": 42, "status": "tracked"})

    [request] = http_receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/referral"
    assert request.headers["content-type"] == "application/json"
    assert re.fullmatch(r"msg_[0-9a-f]{32}", request.headers["webhook-id"])
    assert request.headers["webhook-timestamp"].isdigit()
    payload = Webhook(created["secret"]).verify(request.body, request.headers)
    assert payload["event"] == "click"
    assert payload["customer_id"] == customer["id"]
    assert payload["ref_code"] == customer["ref_code"]
    assert payload["data"] == {"click_id": 42, "status": "tracked"}
    assert datetime.strptime(payload["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    [delivery] = deliveries(hook_app)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 1, 200)
    assert delivery.msg_id == request.headers["webhook-id"]


def test_a_wrong_secret_does_not_verify(hook_app, customer, key, http_receiver):  # noqa: F811
    add_endpoint(hook_app, key, http_receiver.url)
    emit(hook_app, customer)
    [request] = http_receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(request.body, request.headers)


def test_only_subscribed_events_are_sent(hook_app, customer, key, http_receiver):  # noqa: F811
    add_endpoint(hook_app, key, http_receiver.url, ["lead.confirmed"])
    emit(hook_app, customer, "click")
    emit(hook_app, customer, "lead.confirmed", {"participant_id": 3})
    assert [json.loads(r.body)["event"] for r in http_receiver.requests] == ["lead.confirmed"]


def test_emit_without_endpoints_sends_no_sql_the_second_time(app, customer):
    """The tracking hot path: once the process knows a customer has no endpoint, emit costs
    no database round trip at all."""
    with app.app_context():
        events.emit(customer["id"], "click", {}, customer["ref_code"])
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            events.emit(customer["id"], "click", {}, customer["ref_code"])
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert statements == []
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_a_new_endpoint_gets_events_at_once(hook_app, customer, key, http_receiver):  # noqa: F811
    emit(hook_app, customer)  # caches "no endpoint" for this customer
    add_endpoint(hook_app, key, http_receiver.url)
    emit(hook_app, customer)
    assert len(http_receiver.requests) == 1


# --- Retries, switching off, replay -------------------------------------------------------


def test_failing_twice_then_succeeding_is_three_attempts_with_one_id(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    secret = add_endpoint(hook_app, key, http_receiver.url)["secret"]
    http_receiver.answer(500, 503)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)
        assert sweep(hook_app) == 0  # the retry is not due yet
        traveller.shift(timedelta(seconds=DELAYS[0] + 1))
        assert sweep(hook_app) == 1
        traveller.shift(timedelta(seconds=DELAYS[1] + 1))
        assert sweep(hook_app) == 1
        for request in http_receiver.requests:
            Webhook(secret).verify(request.body, request.headers)

    assert len(http_receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in http_receiver.requests}) == 1
    assert len({r.body for r in http_receiver.requests}) == 1
    [delivery] = deliveries(hook_app)
    assert delivery.status == "sent"
    log = attempts(hook_app, delivery.id)
    assert [(n, code) for n, code, _ in log] == [(1, 500), (2, 503), (3, 200)]
    assert [error for *_, error in log] == ["HTTP 500", "HTTP 503", None]
    assert endpoint_row(hook_app, delivery.endpoint_id).consecutive_failures == 0


def test_the_sweep_does_not_send_a_delivery_twice(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    add_endpoint(hook_app, key, http_receiver.url)
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)
    from jobs.webhooks import deliver

    with hook_app.app_context():
        assert deliver(delivery.id) is None  # already sent: nothing to do
    assert sweep(hook_app) == 0
    assert len(http_receiver.requests) == 1


def test_always_failing_receiver_ends_disabled_and_the_customer_is_told(
    hook_app,
    customer,
    key,
    http_receiver,
    smtp_sink,
    client,
    auth,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    http_receiver.always(500)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)
        for delay in DELAYS:
            traveller.shift(timedelta(seconds=delay + 1))
            assert sweep(hook_app) == 1
        traveller.shift(timedelta(days=2))
        assert sweep(hook_app) == 0

    assert len(http_receiver.requests) == 1 + len(DELAYS)
    [delivery] = deliveries(hook_app)
    assert (delivery.status, delivery.attempts, delivery.next_retry_at) == ("failed", 4, None)
    endpoint = endpoint_row(hook_app, endpoint_id)
    assert not endpoint.enabled
    assert endpoint.disabled_reason == endpoints.DISABLED_PERSISTENT_FAILURE

    [mail] = smtp_sink.messages
    assert mail["X-Envelope-To"] == customer["email"]
    assert "127.0.0.1" in mail_text(mail)
    assert "/dashboard/webhooks" in mail_text(mail)

    emit(hook_app, customer)  # a switched-off endpoint gets nothing new
    assert len(deliveries(hook_app)) == 1

    auth.login(customer["email"], customer["password"])
    page = client.get("/dashboard/webhooks").get_data(as_text=True)
    assert f'data-webhook-disabled="{endpoint_id}"' in page


def test_one_success_in_between_keeps_the_endpoint_on(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    """Switched off only when nothing reached it for a whole retry schedule."""
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    http_receiver.answer(500, 500, 500, 200, 500)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)  # attempt 1 of delivery A: 500
        emit(hook_app, customer)  # attempt 1 of delivery B: 500
        traveller.shift(timedelta(seconds=DELAYS[0] + 1))
        sweep(hook_app)  # A2: 500, B2: 200
        http_receiver.always(500)
        for delay in DELAYS[1:]:
            traveller.shift(timedelta(seconds=delay + 1))
            sweep(hook_app)
    statuses = sorted(d.status for d in deliveries(hook_app))
    assert statuses == ["failed", "sent"]
    assert endpoint_row(hook_app, endpoint_id).enabled


def test_replay_sends_the_same_message_again(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    secret = add_endpoint(hook_app, key, http_receiver.url)["secret"]
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)

    client = hook_app.test_client()
    response = client.post(
        f"/api/referral/webhook-deliveries/{delivery.id}/replay", headers=bearer(key)
    )
    assert response.status_code == 202
    assert response.get_json()["delivery"]["status"] == "sent"
    assert response.get_json()["delivery"]["attempts"] == 2

    first, second = http_receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    Webhook(secret).verify(second.body, second.headers)
    detail = client.get(f"/api/referral/webhook-deliveries/{delivery.id}", headers=bearer(key))
    assert [a["status_code"] for a in detail.get_json()["attempts"]] == [200, 200]


def test_a_failed_delivery_is_replayed_after_switching_the_endpoint_on(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    http_receiver.always(500)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)
        for delay in DELAYS:
            traveller.shift(timedelta(seconds=delay + 1))
            sweep(hook_app)
    [delivery] = deliveries(hook_app)
    client = hook_app.test_client()
    refused = client.post(
        f"/api/referral/webhook-deliveries/{delivery.id}/replay", headers=bearer(key)
    )
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "endpoint_disabled"

    http_receiver.always(204)
    switched = client.patch(
        f"/api/referral/webhooks/{endpoint_id}", json={"enabled": True}, headers=bearer(key)
    )
    assert switched.get_json()["webhook"]["enabled"] is True
    assert switched.get_json()["webhook"]["consecutive_failures"] == 0
    replayed = client.post(
        f"/api/referral/webhook-deliveries/{delivery.id}/replay", headers=bearer(key)
    )
    assert replayed.get_json()["delivery"]["status"] == "sent"
    assert replayed.get_json()["delivery"]["last_status_code"] == 204
    assert len(http_receiver.requests) == len(DELAYS) + 2


def test_redirects_are_not_followed(
    hook_app,
    customer,
    key,
    http_receiver,
    second_receiver,  # noqa: F811
):
    add_endpoint(hook_app, key, http_receiver.url)
    http_receiver.answer(302, location=second_receiver.url)
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)
    assert delivery.status == "pending"
    assert delivery.last_status_code == 302
    assert delivery.last_error == "redirect not followed"
    assert second_receiver.requests == []


def test_a_slow_receiver_times_out(hook_app, customer, key, http_receiver):  # noqa: F811
    add_endpoint(hook_app, key, http_receiver.url)
    http_receiver.answer(200, delay=3)
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)
    assert delivery.status == "pending"
    assert delivery.last_error == "timeout"
    assert delivery.last_status_code is None


def test_an_unreachable_receiver_is_a_failed_attempt(hook_app, customer, key, http_receiver):  # noqa: F811
    add_endpoint(hook_app, key, http_receiver.url)
    http_receiver.server.shutdown()
    http_receiver.server.server_close()
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)
    assert (delivery.status, delivery.last_error) == ("pending", "connection refused")


def test_send_test_event_is_one_attempt_that_never_switches_off(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    client = hook_app.test_client()
    response = client.post(f"/api/referral/webhooks/{endpoint_id}/test", headers=bearer(key))
    assert response.status_code == 202
    assert response.get_json()["delivery"]["status"] == "sent"
    assert json.loads(http_receiver.requests[0].body)["event"] == "webhook.test"

    http_receiver.always(500)
    response = client.post(f"/api/referral/webhooks/{endpoint_id}/test", headers=bearer(key))
    assert response.get_json()["delivery"]["status"] == "failed"
    assert endpoint_row(hook_app, endpoint_id).consecutive_failures == 0


def test_rotation_signs_with_old_and_new_secret_for_a_day(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    created = add_endpoint(hook_app, key, http_receiver.url)
    old = created["secret"]
    client = hook_app.test_client()
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        rotated = client.post(
            f"/api/referral/webhooks/{created['id']}/rotate-secret", headers=bearer(key)
        ).get_json()
        new = rotated["secret"]
        assert new != old and new.startswith("whsec_")
        emit(hook_app, customer)
        request = http_receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(old).verify(request.body, request.headers)
        Webhook(new).verify(request.body, request.headers)

        traveller.shift(timedelta(hours=24, seconds=1))
        emit(hook_app, customer)
        request = http_receiver.requests[-1]
        assert len(request.headers["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, request.headers)


def test_a_disabled_endpoint_fails_pending_deliveries_without_sending(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    http_receiver.answer(500)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)
        hook_app.test_client().patch(
            f"/api/referral/webhooks/{endpoint_id}", json={"enabled": False}, headers=bearer(key)
        )
        traveller.shift(timedelta(seconds=DELAYS[0] + 1))
        sweep(hook_app)
    [delivery] = deliveries(hook_app)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "failed",
        1,
        "endpoint disabled",
    )
    assert len(http_receiver.requests) == 1


# --- SSRF ------------------------------------------------------------------------------


REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.5/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://localhost/hook",
    "http://localhost./hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http://user:secret@example.com/hook",
    "http:///hook",
    "http://example.com:99999/hook",
    "https://example.com/" + "a" * 2000,
    "http://no-such-host.invalid/hook",
    "",
]


@pytest.mark.parametrize("url", REFUSED)
def test_unsafe_urls_are_refused_without_the_flag(make_app, customer, url):
    strict = make_app(WEBHOOK_ALLOW_PRIVATE=False)
    key = api_key_for(strict, customer["user_id"])
    response = strict.test_client().post(
        "/api/referral/webhooks", json={"url": url, "events": ["click"]}, headers=bearer(key)
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["error"] == "invalid_webhook_url"
    with strict.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_cloud_metadata_is_refused_even_with_the_flag(hook_app, key):
    response = hook_app.test_client().post(
        "/api/referral/webhooks",
        json={"url": "http://169.254.169.254/latest/meta-data/", "events": ["click"]},
        headers=bearer(key),
    )
    assert response.get_json()["error"] == "invalid_webhook_url"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::", False),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 wrapping 127.0.0.1
        ("ff02::1", False),
        ("240.0.0.1", False),
        ("198.18.0.1", False),
    ],
)
def test_address_rules(address, allowed):
    assert urls.address_allowed(address) is allowed


def test_the_address_is_checked_again_at_send(
    hook_app,
    make_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    """Saved while private addresses were allowed; sending without the flag refuses (as a
    name whose DNS changed to a private address would be refused)."""
    add_endpoint(hook_app, key, http_receiver.url)
    strict = make_app(WEBHOOK_ALLOW_PRIVATE=False, WEBHOOK_RETRY_DELAYS=DELAYS)
    emit(strict, customer)
    [delivery] = deliveries(strict)
    assert delivery.status == "pending"
    assert delivery.last_error.startswith("refused")
    assert http_receiver.requests == []


# --- Access ----------------------------------------------------------------------------


def test_customer_a_cannot_see_or_touch_customer_bs_webhooks(
    hook_app,
    customer,
    key,
    customer_b,
    http_receiver,  # noqa: F811
):
    created = add_endpoint(hook_app, key, http_receiver.url)
    emit(hook_app, customer)
    [delivery] = deliveries(hook_app)
    client = hook_app.test_client()
    other = bearer(customer_b["key"])

    assert client.get("/api/referral/webhooks", headers=other).get_json()["items"] == []
    endpoint_id = created["id"]
    for method, path in [
        ("PATCH", f"/api/referral/webhooks/{endpoint_id}"),
        ("DELETE", f"/api/referral/webhooks/{endpoint_id}"),
        ("POST", f"/api/referral/webhooks/{endpoint_id}/rotate-secret"),
        ("POST", f"/api/referral/webhooks/{endpoint_id}/test"),
        ("GET", f"/api/referral/webhooks/{endpoint_id}/deliveries"),
        ("GET", f"/api/referral/webhook-deliveries/{delivery.id}"),
        ("POST", f"/api/referral/webhook-deliveries/{delivery.id}/replay"),
    ]:
        response = client.open(path, method=method, json={"enabled": False}, headers=other)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"] == "not_found"
    assert len(http_receiver.requests) == 1
    assert endpoint_row(hook_app, endpoint_id).enabled
    mine = client.get("/api/referral/webhooks", headers=bearer(key)).get_json()["items"]
    assert [item["id"] for item in mine] == [endpoint_id]


def test_a_revoked_key_gets_401(app, customer):
    from referral_app.models import ApiKey, User

    with app.app_context():
        user = db.session.get(User, customer["user_id"])
        row, raw = accounts.create_api_key(user, "soon revoked")
        key_id = row.id
        accounts.revoke_api_key(user, key_id)
    response = app.test_client().get("/api/referral/webhooks", headers=bearer(raw))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is not None


def test_anonymous_requests_get_401(client):
    assert client.get("/api/referral/webhooks").status_code == 401
    assert client.post("/api/referral/webhooks", json={}).status_code == 401


# --- Customer API details -----------------------------------------------------------------


def test_the_list_matches_the_contract(hook_app, key, http_receiver):  # noqa: F811
    created = add_endpoint(hook_app, key, http_receiver.url, ["reward.earned", "click"])
    body = hook_app.test_client().get("/api/referral/webhooks", headers=bearer(key)).get_json()
    assert body["ok"] is True
    [item] = body["items"]
    assert {k: item[k] for k in ("id", "url", "events", "enabled")} == {
        "id": created["id"],
        "url": http_receiver.url,
        "events": ["click", "reward.earned"],
        "enabled": True,
    }
    assert "whsec_" not in json.dumps(body)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1/x", "events": []},
        {"url": "http://127.0.0.1/x", "events": ["shipping"]},
        {"url": "http://127.0.0.1/x", "events": 42},
        {"url": "http://127.0.0.1/x"},
        {"url": "http://127.0.0.1/x", "events": [1]},
    ],
)
def test_events_are_validated(hook_app, key, body):
    response = hook_app.test_client().post("/api/referral/webhooks", json=body, headers=bearer(key))
    assert response.status_code == 400
    assert response.get_json()["error"] == "validation_failed"
    assert "events" in response.get_json()["fields"]


def test_deletion_removes_the_endpoint_and_its_log(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    emit(hook_app, customer)
    client = hook_app.test_client()
    assert client.delete(f"/api/referral/webhooks/{endpoint_id}", headers=bearer(key)).json == {
        "ok": True
    }
    assert client.get("/api/referral/webhooks", headers=bearer(key)).json["items"] == []
    assert deliveries(hook_app) == []
    emit(hook_app, customer)
    assert len(http_receiver.requests) == 1


def test_the_delivery_log_pages_with_a_cursor(
    hook_app,
    customer,
    key,
    http_receiver,  # noqa: F811
):
    endpoint_id = add_endpoint(hook_app, key, http_receiver.url)["id"]
    for number in range(5):
        emit(hook_app, customer, "click", {"n": number})
    client = hook_app.test_client()
    url = f"/api/referral/webhooks/{endpoint_id}/deliveries?limit=2"
    seen, cursor = [], None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=bearer(key))
        body = page.get_json()
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 5
    bad = client.get(url + "&cursor=abc", headers=bearer(key))
    assert bad.status_code == 400


def test_too_many_endpoints_are_refused(hook_app, key, http_receiver):  # noqa: F811
    for _ in range(endpoints.MAX_ENDPOINTS_PER_CUSTOMER):
        add_endpoint(hook_app, key, http_receiver.url)
    response = hook_app.test_client().post(
        "/api/referral/webhooks",
        json={"url": http_receiver.url, "events": ["click"]},
        headers=bearer(key),
    )
    assert response.status_code == 409
    assert response.get_json()["error"] == "too_many_webhooks"


def test_form_posts_work_on_the_api_too(hook_app, key, http_receiver):  # noqa: F811
    response = hook_app.test_client().post(
        "/api/referral/webhooks",
        data={"url": http_receiver.url, "events": ["click", "conversion"]},
        headers=bearer(key),
    )
    assert response.status_code == 201
