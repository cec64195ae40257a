"""The admin JSON API (API.md "Admin API"): overview, customer details, fraud log, the
extensions the admin pages share, and their validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from referral_app.models import STATUS_BLOCKED, STATUS_DUPLICATE, utcnow

from .conftest import api_key_for, sql
from .support_admin import admin_client, world  # noqa: F401

pytestmark = pytest.mark.both_backends  # aggregates by day and the fraud log's date filters


@pytest.fixture
def programs(world):  # noqa: F811
    """Three customers with different numbers; one switched off, one suspended."""
    alpha = world.customer("Alpha Coaching")
    beta = world.customer("Beta Agentur", enabled=False)
    gamma = world.customer("Gamma Shop", suspended=True)
    world.clicks(alpha, 10)
    world.clicks(alpha, 3, status=STATUS_DUPLICATE)
    world.clicks(alpha, 2, status=STATUS_BLOCKED)
    world.conversions(alpha, 4)
    world.conversions(alpha, 1, seconds=2.0, suspicious=True)
    world.clicks(beta, 4)
    world.conversions(beta, 1)
    world.clicks(gamma, 20, at=utcnow() - timedelta(days=40))
    world.conversions(gamma, 2, at=utcnow() - timedelta(days=40))
    world.participant(alpha)
    world.participant(alpha, confirmed=False)
    world.participant(beta)
    world.rebuild()
    return {"alpha": alpha, "beta": beta, "gamma": gamma}


def test_overview_totals_equal_the_sum_over_customers(app, admin_client, programs):  # noqa: F811
    body = admin_client.get("/api/referral/get-overview").get_json()
    assert body["ok"] is True
    per_customer = [
        admin_client.get(f"/api/referral/get-customer-details?customer_id={cid}").get_json()
        for cid in programs.values()
    ]
    for name in ("clicks", "conversions", "leads"):
        assert body[name] == sum(d["totals"][name] for d in per_customer)
    (clicks, conversions, leads, unique) = sql(
        app,
        "SELECT SUM(clicks), SUM(conversions), SUM(leads), SUM(unique_clicks) FROM referral_stats",
    )[0]
    assert (body["clicks"], body["conversions"], body["leads"]) == (clicks, conversions, leads)
    assert body["clicks"] == 10 + 3 + 4 + 20  # blocked clicks are not clicks
    assert body["conversions"] == 5 + 1 + 2
    assert body["avg_conversion_rate"] == round(conversions / unique * 100, 1)
    assert body["programs_active"] == 1
    assert body["fraud"]["suspicious_conversions"] == 1
    assert body["fraud"]["suspicious_rate"] == round(1 / 8 * 100, 1)


def test_overview_ranks_top_performers_by_conversions(admin_client, programs):  # noqa: F811
    top = admin_client.get("/api/referral/get-overview").get_json()["top_performers"]
    assert [t["customer_id"] for t in top] == [
        programs["alpha"],
        programs["gamma"],
        programs["beta"],
    ]
    assert top[0] == {
        "customer_id": programs["alpha"],
        "company_name": "Alpha Coaching",
        "conversions": 5,
        "conversion_rate": 50.0,
    }


def test_overview_counts_rate_limit_blocks_and_duplicate_ips(app, admin_client, world):  # noqa: F811
    shop = world.customer("Shop")
    world.fraud(shop, "ip_daily_limit", n=3)
    world.fraud(shop, "click_rate_limit")
    world.fraud(shop, "conversion_rate_limit")
    world.fraud(shop, "fast_conversion", n=4)
    # One IP hash with three visitors, one with a single visitor twice, one shared before
    # the last 24 hours.
    world.clicks(shop, 1, ip_hash="shared", fingerprint="a")
    world.clicks(shop, 1, ip_hash="shared", fingerprint="b")
    world.clicks(shop, 1, ip_hash="shared", fingerprint="c", status=STATUS_DUPLICATE)
    world.clicks(shop, 2, ip_hash="single", fingerprint="same", status=STATUS_DUPLICATE)
    world.clicks(shop, 2, ip_hash="yesterday", at=utcnow() - timedelta(hours=30))
    fraud = admin_client.get("/api/referral/get-overview").get_json()["fraud"]
    assert fraud["rate_limit_blocks"] == 5
    assert fraud["duplicate_ips"] == 1
    assert fraud["unreviewed"] == 9


def test_customer_details_answer_the_contract(admin_client, programs):  # noqa: F811
    body = admin_client.get(
        f"/api/referral/get-customer-details?customer_id={programs['alpha']}"
    ).get_json()
    assert body["ok"] is True
    assert body["customer"]["company_name"] == "Alpha Coaching"
    assert body["customer"]["program_active"] is True
    s_keys = {
        "clicks",
        "unique_clicks",
        "conversions",
        "suspicious_conversions",
        "leads",
        "confirmed_leads",
        "conversion_rate",
    }
    assert set(body["totals"]) == s_keys and set(body["last_30_days"]) == s_keys
    assert body["totals"]["clicks"] == 13
    assert body["totals"]["conversion_rate"] == 50.0
    assert len(body["daily"]) == 30
    assert sum(day["clicks"] for day in body["daily"]) == 13
    assert body["participants"] == 2
    assert body["participants_by_status"] == {"confirmed": 1, "pending": 1}
    assert body["recent_fraud"] == []


def test_customer_details_for_an_older_program_show_only_its_totals(admin_client, programs):  # noqa: F811
    body = admin_client.get(
        f"/api/referral/get-customer-details?customer_id={programs['gamma']}"
    ).get_json()
    assert body["totals"]["clicks"] == 20
    assert body["last_30_days"]["clicks"] == 0
    assert body["customer"]["suspended_at"] is not None


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("customer_id=999999", 404, "unknown_customer"),
        ("customer_id=abc", 400, "validation_failed"),
        ("customer_id=-3", 400, "validation_failed"),
        ("customer_id=1.5", 400, "validation_failed"),
        ("", 400, "validation_failed"),
    ],
)
def test_customer_details_refuse_bad_ids_as_json(admin_client, query, status, error):  # noqa: F811
    response = admin_client.get(f"/api/referral/get-customer-details?{query}")
    assert response.status_code == status
    body = response.get_json()
    assert body["ok"] is False and body["error"] == error and body["message"]


def test_fraud_log_filters_by_customer_type_and_date(admin_client, world):  # noqa: F811
    one = world.customer("Eins")
    two = world.customer("Zwei")
    old = utcnow() - timedelta(days=10)
    world.fraud(one, "fast_conversion", details={"seconds": 2.1})
    world.fraud(one, "bot_user_agent", at=old)
    world.fraud(two, "fast_conversion")

    def ids(query: str) -> list[int]:
        body = admin_client.get(f"/api/referral/get-fraud-log?{query}").get_json()
        assert body["ok"] is True and body["next_page"] is None
        return [item["customer_id"] for item in body["items"]]

    assert len(ids("")) == 3
    assert ids(f"customer_id={one}") == [one, one]
    assert sorted(ids("type=fast_conversion")) == sorted([one, two])
    since = (utcnow() - timedelta(days=2)).date().isoformat()
    assert sorted(ids(f"since={since}")) == sorted([one, two])
    assert ids(f"customer_id={one}&type=fast_conversion&since={since}") == [one]
    item = admin_client.get(f"/api/referral/get-fraud-log?customer_id={one}").get_json()["items"][0]
    assert {"id", "type", "customer_id", "ref_code", "created_at", "details"} <= set(item)
    assert item["details"] == {"seconds": 2.1}
    assert item["created_at"].endswith("Z")


def test_fraud_log_pages_through_newest_first(admin_client, world):  # noqa: F811
    shop = world.customer("Viele Einträge")
    world.fraud(shop, "velocity", n=120)
    first = admin_client.get("/api/referral/get-fraud-log").get_json()
    assert len(first["items"]) == 50 and first["next_page"] == 2
    times = [item["created_at"] for item in first["items"]]
    assert times == sorted(times, reverse=True)
    third = admin_client.get("/api/referral/get-fraud-log?page=3").get_json()
    assert len(third["items"]) == 20 and third["next_page"] is None
    seen = {
        item["id"]
        for page in (1, 2, 3)
        for item in admin_client.get(f"/api/referral/get-fraud-log?page={page}").get_json()["items"]
    }
    assert len(seen) == 120


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("customer_id=x", "customer_id"),
        ("customer_id=0", "customer_id"),
        ("type=not_a_rule", "type"),
        ("since=yesterday", "since"),
        ("since=2025-02-30", "since"),
        ("page=0", "page"),
        ("page=zwei", "page"),
        ("since=2025-02-01&until=2025-01-01", "until"),
        ("reviewed=maybe", "reviewed"),
    ],
)
def test_fraud_log_refuses_bad_filters_with_400(admin_client, query, field):  # noqa: F811
    response = admin_client.get(f"/api/referral/get-fraud-log?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert field in body["fields"]


def test_admin_api_key_works_without_a_session(app, client, admin, programs):
    key = api_key_for(app, admin["id"])
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/referral/get-overview", headers=headers).get_json()["ok"] is True
    response = client.post(
        "/api/referral/customer-program",
        json={"customer_id": programs["alpha"], "action": "suspend", "reason": "Betrug"},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.get_json()["customer"]["program_active"] is False


def test_customer_list_searches_and_sorts(admin_client, world):  # noqa: F811
    big = world.customer("Große Agentur")
    small = world.customer("Kleiner Laden")
    shady = world.customer("Schatten GmbH")
    world.clicks(big, 100)
    world.conversions(big, 10)
    world.clicks(small, 4)
    world.conversions(small, 2)
    world.clicks(shady, 10)
    world.conversions(shady, 3)
    world.conversions(shady, 3, seconds=1.0, suspicious=True)
    world.rebuild()

    def order(query: str) -> list[int]:
        body = admin_client.get(f"/api/referral/get-customers?{query}").get_json()
        return [item["customer_id"] for item in body["items"]]

    assert order("sort=conversions") == [big, shady, small]
    assert order("sort=rate") == [shady, small, big]
    assert order("sort=fraud") == [shady, big, small]
    assert order("q=laden") == [small]
    assert order("q=" + world.code(shady)) == [shady]
    response = admin_client.get("/api/referral/get-customers?sort=drop+table")
    assert response.status_code == 400


def test_customer_program_actions_need_a_reason_and_csrf(app, admin_client, programs):  # noqa: F811
    alpha = programs["alpha"]
    no_csrf = admin_client.post(
        "/api/referral/customer-program", json={"customer_id": alpha, "action": "disable"}
    )
    assert no_csrf.status_code == 400
    assert no_csrf.get_json()["error"] == "csrf_failed"
    headers = {"X-CSRFToken": admin_client.csrf}
    no_reason = admin_client.post(
        "/api/referral/customer-program",
        json={"customer_id": alpha, "action": "disable", "reason": "  "},
        headers=headers,
    )
    assert no_reason.status_code == 400
    assert no_reason.get_json()["error"] == "reason_required"
    done = admin_client.post(
        "/api/referral/customer-program",
        json={"customer_id": alpha, "action": "disable", "reason": "Spam-Verdacht"},
        headers=headers,
    )
    assert done.get_json()["customer"]["enabled"] is False
    assert sql(app, "SELECT referral_enabled FROM customers WHERE id = :i", i=alpha)[0][0] in (
        0,
        False,
    )
    log = admin_client.get("/api/referral/get-audit-log?action=program.disable").get_json()
    assert log["items"][0]["details"] == {"reason": "Spam-Verdacht", "via": "api"}
    assert log["items"][0]["target_id"] == alpha


def test_review_marks_entries_once_and_is_audited(app, admin_client, admin, world):  # noqa: F811
    shop = world.customer("Prüfung")
    ids = world.fraud(shop, "self_referral", n=3)
    headers = {"X-CSRFToken": admin_client.csrf}
    first = admin_client.post("/api/referral/review-fraud", json={"ids": ids[:2]}, headers=headers)
    assert first.get_json() == {"ok": True, "reviewed": 2}
    again = admin_client.post("/api/referral/review-fraud", json={"ids": ids}, headers=headers)
    assert again.get_json()["reviewed"] == 1
    rows = sql(app, "SELECT reviewed_by FROM referral_fraud_log WHERE reviewed_at IS NOT NULL")
    assert [row[0] for row in rows] == [admin["id"]] * 3
    bad = admin_client.post("/api/referral/review-fraud", json={"ids": ["x"]}, headers=headers)
    assert bad.status_code == 400
    empty = admin_client.post("/api/referral/review-fraud", json={}, headers=headers)
    assert empty.status_code == 400
    actions = admin_client.get("/api/referral/get-audit-log").get_json()["items"]
    assert [a["action"] for a in actions] == ["fraud.review", "fraud.review"]
    open_only = admin_client.get("/api/referral/get-fraud-log?reviewed=open").get_json()
    assert open_only["items"] == []
