"""The webhooks page of the customer dashboard, used as a person would: real forms with
CSRF tokens, no JavaScript, a real receiver on 127.0.0.1."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from referral_app.accounts import users as accounts
from referral_app.extensions import db
from referral_app.models import WebhookEndpoint
from referral_app.webhooks import events

from .conftest import AuthActions
from .support_http import http_receiver  # noqa: F401

PAGE = "/dashboard/webhooks"


@pytest.fixture
def hook_app(make_app, customer):
    return make_app(WEBHOOK_ALLOW_PRIVATE=True, WEBHOOK_RETRY_DELAYS=[60, 120])


@pytest.fixture
def browser(hook_app, customer):
    """A logged-in customer's browser on the app."""
    client = hook_app.test_client()
    AuthActions(client).login(customer["email"], customer["password"])
    return client


def token(client, path: str = PAGE) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def add_via_form(client, url: str, events_: tuple[str, ...] = ("click",)):
    return client.post(
        PAGE, data={"csrf_token": token(client), "url": url, "events": list(events_)}
    )


def endpoint_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(WebhookEndpoint.id).order_by(WebhookEndpoint.id)))


def emit(app, customer: dict) -> None:
    with app.app_context():
        events.emit(customer["id"], "click", {"click_id": 1}, customer["ref_code"])


def test_adding_an_endpoint_shows_the_secret_once(browser, hook_app, http_receiver):  # noqa: F811
    response = add_via_form(browser, http_receiver.url, ("click", "reward.earned"))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    secret = re.search(r'id="webhook-secret"[^>]*>(whsec_[^<]+)<', page).group(1)
    assert len(secret) > 40

    listing = browser.get(PAGE).get_data(as_text=True)
    assert http_receiver.url in listing
    assert secret not in listing
    [endpoint_id] = endpoint_ids(hook_app)
    detail = browser.get(f"{PAGE}/{endpoint_id}").get_data(as_text=True)
    assert secret not in detail


def test_a_refused_url_is_shown_in_the_form(make_app, customer):
    strict = make_app(WEBHOOK_ALLOW_PRIVATE=False)
    client = strict.test_client()
    AuthActions(client).login(customer["email"], customer["password"])
    response = add_via_form(client, "http://10.0.0.1/hook")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'class="field-error" id="url-error"' in page
    assert 'value="http://10.0.0.1/hook"' in page
    assert endpoint_ids(strict) == []


def test_every_form_needs_the_csrf_token(browser, hook_app, http_receiver):  # noqa: F811
    response = browser.post(PAGE, data={"url": http_receiver.url, "events": ["click"]})
    assert response.status_code == 400
    assert endpoint_ids(hook_app) == []


def test_delivery_log_shows_status_code_attempts_and_next_retry(
    browser,
    hook_app,
    customer,
    http_receiver,  # noqa: F811
):
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    http_receiver.answer(503)
    emit(hook_app, customer)
    page = browser.get(f"{PAGE}/{endpoint_id}").get_data(as_text=True)
    row = re.search(r'<tr data-delivery-id="\d+" data-status="pending">(.*?)</tr>', page, re.S)
    assert row, page
    cells = row.group(1)
    assert "503" in cells and "HTTP 503" in cells
    assert re.search(r"<td>1</td>", cells)
    assert re.search(
        r'<time datetime="[^"]+Z" title="Europe/Berlin">\d\d\.\d\d\.\d{4} \d\d:\d\d', cells
    )
    assert 'hx-trigger="every 10s"' in page  # the log polls while something is pending


def test_the_polling_request_gets_only_the_log(
    browser,
    hook_app,
    customer,
    http_receiver,  # noqa: F811
):
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    emit(hook_app, customer)
    fragment = browser.get(f"{PAGE}/{endpoint_id}", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card" id="delivery-log"')
    assert "<html" not in html
    assert "hx-trigger" not in html  # nothing pending: polling stops


def test_replay_button_sends_again(browser, hook_app, customer, http_receiver):  # noqa: F811
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    emit(hook_app, customer)
    page = browser.get(f"{PAGE}/{endpoint_id}").get_data(as_text=True)
    action = re.search(r'action="(/dashboard/webhook-deliveries/\d+/replay)"', page).group(1)
    response = browser.post(action, data={"csrf_token": token(browser)})
    assert response.status_code == 303
    assert len(http_receiver.requests) == 2
    assert (
        http_receiver.requests[0].headers["webhook-id"]
        == (http_receiver.requests[1].headers["webhook-id"])
    )


def test_send_test_rotate_and_switch_off(browser, hook_app, http_receiver):  # noqa: F811
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    detail = f"{PAGE}/{endpoint_id}"

    sent = browser.post(f"{detail}/test", data={"csrf_token": token(browser, detail)})
    assert sent.status_code == 303
    assert len(http_receiver.requests) == 1

    rotated = browser.post(f"{detail}/rotate", data={"csrf_token": token(browser, detail)})
    assert re.search(r'id="webhook-secret"[^>]*>whsec_', rotated.get_data(as_text=True))

    off = browser.post(
        f"{detail}/toggle", data={"csrf_token": token(browser, detail), "enabled": "0"}
    )
    assert off.status_code == 303
    with hook_app.app_context():
        assert db.session.get(WebhookEndpoint, endpoint_id).enabled is False
    page = browser.get(detail).get_data(as_text=True)
    assert "Switch on" in page or "Einschalten" in page or 'name="enabled" value="1"' in page


def test_edit_url_and_events(browser, hook_app, http_receiver):  # noqa: F811
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    detail = f"{PAGE}/{endpoint_id}"
    browser.post(
        detail,
        data={
            "csrf_token": token(browser, detail),
            "url": http_receiver.url + "?v=2",
            "events": ["conversion", "lead.confirmed"],
        },
    )
    with hook_app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        assert endpoint.url.endswith("?v=2")
        assert endpoint.events == ["conversion", "lead.confirmed"]


def test_delete_asks_first_then_deletes(browser, hook_app, http_receiver):  # noqa: F811
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    confirm = browser.get(f"{PAGE}/{endpoint_id}/delete")
    assert confirm.status_code == 200
    assert f'action="{PAGE}/{endpoint_id}/delete"' in confirm.get_data(as_text=True)
    assert endpoint_ids(hook_app) == [endpoint_id]  # looking at the question deletes nothing

    done = browser.post(f"{PAGE}/{endpoint_id}/delete", data={"csrf_token": token(browser)})
    assert done.status_code == 303
    assert endpoint_ids(hook_app) == []


def test_another_customers_endpoint_is_not_found(browser, hook_app, http_receiver):  # noqa: F811
    with hook_app.app_context():
        _, user = accounts.create_customer("c@example.com", "c-passwort-1", "C AG")
        other = WebhookEndpoint(
            customer_id=user.customer_id,
            url=http_receiver.url,
            events=["click"],
            secret_encrypted="x",
        )
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    assert browser.get(f"{PAGE}/{other_id}").status_code == 404
    assert browser.get(f"{PAGE}/{other_id}/delete").status_code == 404
    for action in ("delete", "rotate", "test", "toggle"):
        response = browser.post(
            f"{PAGE}/{other_id}/{action}", data={"csrf_token": token(browser), "enabled": "0"}
        )
        assert response.status_code == 404, action
    with hook_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1


def test_switched_off_endpoint_shows_a_notice(
    browser,
    hook_app,
    customer,
    http_receiver,  # noqa: F811
):
    add_via_form(browser, http_receiver.url)
    [endpoint_id] = endpoint_ids(hook_app)
    http_receiver.always(500)
    from referral_app.webhooks import deliveries

    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        emit(hook_app, customer)
        for delay in (60, 120):
            traveller.shift(timedelta(seconds=delay + 1))
            with hook_app.app_context():
                deliveries.retry_due()
    for path in (PAGE, f"{PAGE}/{endpoint_id}"):
        page = browser.get(path).get_data(as_text=True)
        assert f'data-webhook-disabled="{endpoint_id}"' in page
