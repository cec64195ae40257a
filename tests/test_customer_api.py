"""The customer JSON API exactly as API.md "Customer API" says, and the two rules every
customer route keeps: another customer's ids are 404 (no IDOR), and a session write without
the CSRF token is refused (400)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from referral_app.models import utcnow

from .conftest import api_key_for
from .support_customer import (  # noqa: F401 - fixtures
    add_click,
    add_conversion,
    add_milestone,
    add_participant,
    grant,
    login_customer,
    other_customer,
)


@pytest.fixture
def key(app, customer):
    return {"Authorization": f"Bearer {api_key_for(app, customer['user_id'])}"}


def test_get_stats_has_the_contract_shape(app, client, customer, key):
    add_click(app, customer["id"], customer["ref_code"])
    add_conversion(app, customer["id"], customer["ref_code"])
    body = client.get("/api/referral/get-stats", headers=key).get_json()
    assert body["ok"] is True and body["customer_id"] == customer["id"]
    assert body["ref_code"] == customer["ref_code"] and body["enabled"] is True
    for window in ("totals", "last_30_days"):
        assert set(body[window]) == {
            "clicks",
            "unique_clicks",
            "conversions",
            "suspicious_conversions",
            "leads",
            "confirmed_leads",
            "conversion_rate",
        }
    assert body["last_30_days"]["conversion_rate"] == 100.0
    assert set(body["trend_7d"]) == {"clicks", "conversions", "leads"}


# --- toggle and company --------------------------------------------------------------------


def test_toggle_answers_the_servers_state(client, customer, key):
    response = client.post("/api/referral/toggle", json={"enabled": False}, headers=key)
    assert response.get_json() == {"ok": True, "enabled": False}
    assert client.get("/api/referral/get-stats", headers=key).get_json()["enabled"] is False
    response = client.post("/api/referral/toggle", data={"enabled": "true"}, headers=key)
    assert response.get_json() == {"ok": True, "enabled": True}


@pytest.mark.parametrize("value", [None, "vielleicht", 7])
def test_toggle_refuses_a_value_that_is_not_a_boolean(client, customer, key, value):
    response = client.post("/api/referral/toggle", json={"enabled": value}, headers=key)
    assert response.status_code == 400
    assert response.get_json()["error"] == "validation_failed"


def test_update_company_saves_and_answers_the_company(client, customer, key):
    body = {
        "company_name": "Neue Firma GmbH",
        "contact_email": "Info@Neue.example",
        "imprint": "Neue Firma GmbH\nStraße 1",
        "website": "https://neue.example",
        "sender_name": "Neue Firma",
    }
    response = client.post("/api/referral/update-company", json=body, headers=key)
    assert response.status_code == 200
    company = response.get_json()["company"]
    assert company["company_name"] == "Neue Firma GmbH"
    assert company["contact_email"].lower() == "info@neue.example"
    assert company["imprint"] == "Neue Firma GmbH\nStraße 1"


def test_update_company_validation_errors_name_each_field(client, customer, key):
    response = client.post(
        "/api/referral/update-company",
        json={"company_name": " ", "contact_email": "nope", "website": "ftp://x", "imprint": ""},
        headers=key,
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["error"] == "validation_failed"
    assert set(body["fields"]) == {"company_name", "contact_email", "website", "imprint"}
    assert body["message"]


def test_sender_name_cannot_inject_mail_headers(client, customer, key):
    response = client.post(
        "/api/referral/update-company",
        json={
            "company_name": "A",
            "contact_email": "a@example.com",
            "imprint": "A",
            "sender_name": "A\r\nBcc: x@example.com",
        },
        headers=key,
    )
    assert response.status_code == 400
    assert "sender_name" in response.get_json()["fields"]


# --- rewards -------------------------------------------------------------------------------


def test_rewards_crud_and_reorder(client, customer, key):
    for threshold, tier in ((10, "Gold"), (3, "Bronze"), (5, "Silber")):
        response = client.post(
            "/api/referral/rewards",
            json={"threshold": threshold, "tier": tier, "title": f"{tier}-Preis", "delivery": "x"},
            headers=key,
        )
        assert response.status_code == 201
        assert isinstance(response.get_json()["id"], int)
    items = client.get("/api/referral/rewards", headers=key).get_json()["items"]
    assert [i["threshold"] for i in items] == [3, 5, 10]
    assert set(items[0]) == {"id", "threshold", "tier", "title", "description", "delivery"} | {
        "kind",
        "amount_cents",
        "hold_days",
        "manual_approval",
    }
    assert (items[0]["kind"], items[0]["hold_days"]) == ("text", 14)  # the API's defaults
    bronze, silver, gold = (i["id"] for i in items)

    response = client.patch(f"/api/referral/rewards/{silver}", json={"title": "Neu"}, headers=key)
    assert response.get_json()["item"]["title"] == "Neu"
    response = client.post(
        "/api/referral/rewards/reorder", json={"ids": [gold, bronze, silver]}, headers=key
    )
    assert response.status_code == 200
    items = client.get("/api/referral/rewards", headers=key).get_json()["items"]
    assert [(i["threshold"], i["tier"]) for i in items] == [
        (3, "Gold"),
        (5, "Bronze"),
        (10, "Silber"),
    ]

    assert client.delete(f"/api/referral/rewards/{gold}", headers=key).get_json() == {"ok": True}
    items = client.get("/api/referral/rewards", headers=key).get_json()["items"]
    assert [i["tier"] for i in items] == ["Bronze", "Silber"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 0, "tier": "B", "title": "t"}, "threshold"),
        ({"threshold": "drei", "tier": "B", "title": "t"}, "threshold"),
        ({"threshold": 3, "tier": "", "title": "t"}, "tier"),
        ({"threshold": 3, "tier": "B"}, "title"),
        ({"threshold": 3, "tier": "B", "title": "x" * 201}, "title"),
    ],
)
def test_invalid_rewards_are_refused_by_field(client, customer, key, body, field):
    response = client.post("/api/referral/rewards", json=body, headers=key)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]


def test_two_rewards_cannot_share_a_threshold(client, customer, key):
    body = {"threshold": 3, "tier": "B", "title": "t"}
    assert client.post("/api/referral/rewards", json=body, headers=key).status_code == 201
    response = client.post("/api/referral/rewards", json=body, headers=key)
    assert response.status_code == 400
    assert "threshold" in response.get_json()["fields"]


def test_reorder_must_name_every_reward_once(app, client, customer, key):
    first = add_milestone(app, customer["id"], 3, "Bronze", "a")
    add_milestone(app, customer["id"], 5, "Silber", "b")
    response = client.post("/api/referral/rewards/reorder", json={"ids": [first]}, headers=key)
    assert response.status_code == 400


# --- participants --------------------------------------------------------------------------


def test_participants_list_shape_search_filter_and_cursor(
    app, client, customer, other_customer, key
):
    anna = add_participant(app, customer["id"], "anna@example.org", name="Anna")
    add_participant(app, customer["id"], "ben@example.org", status="pending")
    for n in range(3):
        add_participant(app, customer["id"], f"p{n}@example.org")
    add_participant(app, other_customer["id"], "fremd@example.org")
    reward = add_milestone(app, customer["id"], 1, "Bronze", "Checkliste")
    add_conversion(app, customer["id"], anna["ref_code"], participant_id=anna["id"])
    grant(app, anna["id"], reward)

    body = client.get("/api/referral/participants", headers=key).get_json()
    assert body["ok"] is True and body["next_cursor"] is None
    assert len(body["items"]) == 5
    assert "fremd@example.org" not in {i["email"] for i in body["items"]}
    item = next(i for i in body["items"] if i["id"] == anna["id"])
    assert {"id", "email", "name", "ref_code", "status", "referrals", "rewards"} <= set(item)
    assert {"created_at", "confirmed_at"} <= set(item)
    assert item["name"] == "Anna" and item["referrals"] == 1
    assert item["rewards"][0]["tier"] == "Bronze"

    found = client.get("/api/referral/participants?q=Anna@Example.org", headers=key).get_json()
    assert [i["id"] for i in found["items"]] == [anna["id"]]
    pending = client.get("/api/referral/participants?status=pending", headers=key).get_json()
    assert [i["email"] for i in pending["items"]] == ["ben@example.org"]

    seen, cursor = [], None
    while True:
        url = "/api/referral/participants?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=key).get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "query", ["status=gone", "cursor=%%%", "cursor=bm9wZQ", "limit=0", "limit=abc"]
)
def test_participants_bad_input_is_a_400(client, customer, key, query):
    response = client.get(f"/api/referral/participants?{query}", headers=key)
    assert response.status_code == 400
    assert response.get_json()["ok"] is False


def test_participant_export_and_delete(app, client, customer, key):
    pytest.importorskip("referral_app.participants.signup")
    anna = add_participant(app, customer["id"], "anna@example.org")
    export = client.get(f"/api/referral/participants/{anna['id']}/export", headers=key)
    assert export.status_code == 200
    body = export.get_json()
    assert body["ok"] is True and body["participant"]["email"] == "anna@example.org"
    assert {"consent", "referrals", "rewards"} <= set(body)
    assert client.delete(f"/api/referral/participants/{anna['id']}", headers=key).get_json() == {
        "ok": True
    }
    assert client.get("/api/referral/participants", headers=key).get_json()["items"] == []


# --- conversions and daily stats -----------------------------------------------------------


def test_conversions_since_and_cursor(app, client, customer, other_customer, key):
    now = utcnow()
    old = add_conversion(app, customer["id"], customer["ref_code"], at=now - timedelta(days=5))
    ids = [
        add_conversion(
            app, customer["id"], customer["ref_code"], suspicious=True, reasons=["fast_conversion"]
        )
        for _ in range(3)
    ]
    add_conversion(app, other_customer["id"], other_customer["ref_code"])
    since = (now - timedelta(days=1)).date().isoformat()
    page = client.get(f"/api/referral/conversions?since={since}&limit=2", headers=key).get_json()
    assert [i["id"] for i in page["items"]] == ids[:2]
    item = page["items"][0]
    assert item["suspicious"] is True and item["reasons"] == ["fast_conversion"]
    assert {"id", "ref_code", "suspicious", "reasons", "created_at"} <= set(item)
    rest = client.get(
        f"/api/referral/conversions?since={since}&limit=2&cursor={page['next_cursor']}",
        headers=key,
    ).get_json()
    assert [i["id"] for i in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    everything = client.get("/api/referral/conversions", headers=key).get_json()
    assert [i["id"] for i in everything["items"]] == [old, *ids]
    bad = client.get("/api/referral/conversions?since=gestern", headers=key)
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_date"


def test_daily_stats_range(app, client, customer, key):
    today = utcnow().date()
    add_click(app, customer["id"], customer["ref_code"])
    first = (today - timedelta(days=2)).isoformat()
    body = client.get(
        f"/api/referral/daily-stats?from={first}&to={today.isoformat()}", headers=key
    ).get_json()
    assert [d["date"] for d in body["days"]] == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert body["days"][-1]["clicks"] == 1 and body["days"][0]["clicks"] == 0
    assert {
        "date",
        "clicks",
        "unique_clicks",
        "conversions",
        "suspicious_conversions",
        "leads",
        "confirmed_leads",
    } <= set(body["days"][0])
    assert len(client.get("/api/referral/daily-stats", headers=key).get_json()["days"]) == 30


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-13-01&to=2025-12-31",
        "from=gestern",
        "from=2025-02-01&to=2025-01-01",
        "from=2023-01-01&to=2025-01-01",
        "from=2025-1-1",
    ],
)
def test_daily_stats_refuses_bad_dates(client, customer, key, query):
    response = client.get(f"/api/referral/daily-stats?{query}", headers=key)
    assert response.status_code == 400
    assert response.get_json()["error"] in {"invalid_date", "invalid_range"}


# --- no IDOR, CSRF on every session write ---------------------------------------------------


def _other_ids(app, other_customer):
    from referral_app.extensions import db
    from referral_app.models import ApiKey

    participant = add_participant(app, other_customer["id"], "fremd@example.org")
    reward = add_milestone(app, other_customer["id"], 3, "Bronze", "fremd")
    api_key_for(app, other_customer["user_id"])
    with app.app_context():
        key = db.session.scalar(db.select(ApiKey.id))
    return {"participant": participant["id"], "reward": reward, "key": key}


FOREIGN_ROUTES = [
    ("PATCH", "/api/referral/rewards/{reward}"),
    ("PUT", "/api/referral/rewards/{reward}"),
    ("DELETE", "/api/referral/rewards/{reward}"),
    ("GET", "/api/referral/participants/{participant}/export"),
    ("DELETE", "/api/referral/participants/{participant}"),
    ("GET", "/dashboard/participants/{participant}/export.json"),
    ("GET", "/dashboard/participants/{participant}/delete"),
    ("POST", "/dashboard/participants/{participant}/delete"),
    ("POST", "/dashboard/rewards/{reward}"),
    ("POST", "/dashboard/rewards/{reward}/move"),
    ("POST", "/dashboard/rewards/{reward}/delete"),
    ("POST", "/dashboard/api-keys/{key}/revoke"),
]


@pytest.mark.parametrize(("method", "path"), FOREIGN_ROUTES)
def test_another_customers_ids_are_not_found(
    app, client, auth, customer, other_customer, method, path
):
    ids = _other_ids(app, other_customer)
    token = login_customer(client, auth, customer)
    body = {"threshold": 9, "tier": "X", "title": "X", "direction": "up", "csrf_token": token}
    response = client.open(
        path.format(**ids), method=method, data=body, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 404
    key = {"Authorization": f"Bearer {api_key_for(app, other_customer['user_id'])}"}
    rewards = app.test_client().get("/api/referral/rewards", headers=key).get_json()["items"]
    assert rewards[0]["tier"] == "Bronze" and rewards[0]["threshold"] == 3
    participants = app.test_client().get("/api/referral/participants", headers=key)
    assert participants.get_json()["items"][0]["email"] == "fremd@example.org"
    with app.app_context():
        from referral_app.extensions import db
        from referral_app.models import ApiKey

        assert db.session.get(ApiKey, ids["key"]).revoked_at is None


def test_another_customers_reward_cannot_be_reordered(app, client, customer, other_customer, key):
    ids = _other_ids(app, other_customer)
    response = client.post(
        "/api/referral/rewards/reorder", json={"ids": [ids["reward"]]}, headers=key
    )
    assert response.status_code == 400


def _write_routes() -> list[tuple[str, str]]:
    """Every write route of the customer's pages and API (new ones included automatically)."""
    from referral_app import create_app
    from referral_app.config import TestConfig

    app = create_app(TestConfig)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("customer", "customer_api"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            found.append((method, path))
    return found


@pytest.mark.parametrize(("method", "path"), _write_routes())
def test_session_writes_without_the_csrf_token_are_refused(client, auth, customer, method, path):
    login_customer(client, auth, customer)
    response = client.open(path, method=method, data={"enabled": "false"})
    assert response.status_code == 400
    assert client.get("/api/referral/get-stats").get_json()["enabled"] is True


def test_customer_api_needs_a_login(client):
    for path in (
        "/api/referral/rewards",
        "/api/referral/participants",
        "/api/referral/conversions",
    ):
        response = client.get(path)
        assert response.status_code == 401
        assert response.get_json()["ok"] is False


@pytest.mark.parametrize(
    "website",
    ["https://javascript:alert(1)", "javascript:alert(1)", "https://example", "https://x.de:99999"],
)
def test_a_website_that_is_no_web_address_is_refused(app, client, customer, key, website):
    body = {
        "company_name": "Müller & Söhne GmbH",
        "contact_email": "kontakt@mueller.example",
        "imprint": "Müller & Söhne GmbH\nHauptstraße 1\n12345 Musterstadt",
        "website": website,
    }
    response = client.post("/api/referral/update-company", json=body, headers=key)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"website"}
