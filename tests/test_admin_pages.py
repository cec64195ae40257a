"""The admin pages: each page, filter, sort and action, as an admin uses them with or
without JavaScript (HTMX fragments and plain form posts with redirects)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from referral_app.models import STATUS_DUPLICATE, utcnow

from .conftest import sql
from .support_admin import admin_client, csrf_token, world  # noqa: F401
from .test_foundation import ADMIN_PAGES

pytestmark = pytest.mark.both_backends  # deletes cascade by foreign keys; raw SQL checks

HX = {"HX-Request": "true"}


def _text(response) -> str:
    return response.get_data(as_text=True)


def _customer_order(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-customer-id="(\d+)"', page)]


@pytest.fixture
def shop(world):  # noqa: F811
    customer_id = world.customer('Müller & Söhne, "Die Besten" GmbH')
    world.clicks(customer_id, 12)
    world.conversions(customer_id, 3)
    world.conversions(customer_id, 1, seconds=1.5, suspicious=True)
    world.participant(customer_id)
    world.fraud(customer_id, "fast_conversion", details={"seconds": 1.5, "event": "conversion"})
    world.rebuild()
    return customer_id


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/customers",
        "/admin/fraud",
        "/admin/backtest",
        "/admin/export",
        "/admin/audit",
    ],
)
def test_every_admin_page_renders_for_the_admin(admin_client, shop, path):  # noqa: F811
    response = admin_client.get(path)
    assert response.status_code == 200
    page = _text(response)
    assert "<html" in page and "css/admin.css" in page
    assert 'aria-current="page"' in page


def test_admin_pages_are_german_by_default(admin_client, shop):  # noqa: F811
    page = _text(admin_client.get("/admin/"))
    assert 'lang="de"' in page


def test_overview_shows_the_numbers_chart_and_polls(admin_client, shop):  # noqa: F811
    page = _text(admin_client.get("/admin/"))
    assert 'hx-trigger="every 10s"' in page and "data-poll" in page
    assert 'hx-swap="outerHTML"' in page
    assert "<svg" in page and "<polyline" in page
    assert "Müller &amp; Söhne" in page
    assert "fast_conversion" in page
    fragment = _text(admin_client.get("/admin/", headers=HX))
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="overview-live"')
    assert 'hx-trigger="every 10s"' in fragment


def test_overview_fragment_follows_new_numbers(admin_client, world, shop):  # noqa: F811
    before = _text(admin_client.get("/admin/", headers=HX))
    world.clicks(shop, 1000)
    world.rebuild()
    after = _text(admin_client.get("/admin/", headers=HX))
    assert before != after
    assert re.search(r"1[.,]?012", after)


def test_customer_list_searches_by_name_and_code(admin_client, world, shop):  # noqa: F811
    other = world.customer("Andere Firma")
    person = world.participant(other)
    assert _customer_order(_text(admin_client.get("/admin/customers?q=söhne"))) == [shop]
    assert _customer_order(_text(admin_client.get("/admin/customers?q=ANDERE"))) == [other]
    by_code = admin_client.get("/admin/customers?q=" + world.code(shop))
    assert _customer_order(_text(by_code)) == [shop]
    by_participant = admin_client.get("/admin/customers?q=" + person["ref_code"])
    assert _customer_order(_text(by_participant)) == [other]
    assert _customer_order(_text(admin_client.get("/admin/customers?q=100%25"))) == []


def test_customer_list_search_as_you_type_returns_the_results_block(admin_client, shop):  # noqa: F811
    fragment = _text(admin_client.get("/admin/customers?q=Müller", headers=HX))
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<section id="customer-results"')
    assert _customer_order(fragment) == [shop]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("conversions", "abc"), ("rate", "cba"), ("fraud", "bac"), ("name", "abc")],
)
def test_customer_list_sorts(admin_client, world, sort, expected):  # noqa: F811
    ids = {
        "a": world.customer("A-Firma"),
        "b": world.customer("B-Firma"),
        "c": world.customer("C-Firma"),
    }
    world.clicks(ids["a"], 100)
    world.conversions(ids["a"], 20)
    world.clicks(ids["b"], 40)
    world.conversions(ids["b"], 6, suspicious=True, seconds=1.0)
    world.conversions(ids["b"], 4)
    world.clicks(ids["c"], 5)
    world.conversions(ids["c"], 4)
    world.rebuild()
    order = _customer_order(_text(admin_client.get(f"/admin/customers?sort={sort}")))
    assert order == [ids[key] for key in expected]


def test_customer_list_pages(admin_client, world):  # noqa: F811
    for n in range(27):
        world.customer(f"Firma {n:02d}")
    first = _text(admin_client.get("/admin/customers?sort=name"))
    assert len(_customer_order(first)) == 25
    assert "page=2" in first
    second = _text(admin_client.get("/admin/customers?sort=name&page=2"))
    assert len(_customer_order(second)) == 2
    assert "Firma 26" in second


def test_drill_down_panel_by_htmx_and_as_a_page(admin_client, shop):  # noqa: F811
    listing = _text(admin_client.get("/admin/customers"))
    assert f'hx-get="/admin/customers/{shop}"' in listing and 'hx-target="#drilldown"' in listing
    panel = _text(admin_client.get(f"/admin/customers/{shop}", headers=HX))
    assert "<html" not in panel
    assert panel.lstrip().startswith('<section id="customer-panel"')
    assert "<svg" in panel and "fast_conversion" in panel
    assert 'name="reason"' in panel and 'value="suspend"' in panel
    whole = admin_client.get(f"/admin/customers/{shop}")
    assert whole.status_code == 200 and "<html" in _text(whole)
    assert admin_client.get("/admin/customers/999999").status_code == 404


def test_switching_a_program_off_needs_a_reason(app, admin_client, shop):  # noqa: F811
    url = f"/admin/customers/{shop}/program"
    refused = admin_client.post(
        url, data={"csrf_token": admin_client.csrf, "action": "disable", "reason": ""}
    )
    assert refused.status_code == 302
    assert sql(app, "SELECT referral_enabled FROM customers WHERE id=:i", i=shop)[0][0]
    page = _text(admin_client.get(refused.headers["Location"]))
    assert "flash-error" in page
    done = admin_client.post(
        url,
        data={"csrf_token": admin_client.csrf, "action": "disable", "reason": "Kunde kündigt"},
        follow_redirects=True,
    )
    assert "flash-success" in _text(done)
    assert not sql(app, "SELECT referral_enabled FROM customers WHERE id=:i", i=shop)[0][0]
    admin_client.post(url, data={"csrf_token": admin_client.csrf, "action": "enable"})
    assert sql(app, "SELECT referral_enabled FROM customers WHERE id=:i", i=shop)[0][0]


def test_suspend_and_lift_with_audit_trail(app, admin_client, admin, shop):  # noqa: F811
    url = f"/admin/customers/{shop}/program"
    admin_client.post(
        url, data={"csrf_token": admin_client.csrf, "action": "suspend", "reason": "Klickbetrug"}
    )
    suspended_at, reason = sql(
        app, "SELECT suspended_at, suspended_reason FROM customers WHERE id=:i", i=shop
    )[0]
    assert suspended_at is not None and reason == "Klickbetrug"
    panel = _text(admin_client.get(f"/admin/customers/{shop}"))
    assert "Klickbetrug" in panel and 'value="unsuspend"' in panel
    admin_client.post(url, data={"csrf_token": admin_client.csrf, "action": "unsuspend"})
    assert sql(app, "SELECT suspended_at FROM customers WHERE id=:i", i=shop)[0][0] is None
    rows = sql(app, "SELECT user_id, action, target_id FROM audit_log ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (admin["id"], "program.suspend", shop),
        (admin["id"], "program.unsuspend", shop),
    ]
    audit = _text(admin_client.get("/admin/audit"))
    assert "program.suspend" in audit and "Klickbetrug" in audit and admin["email"] in audit
    filtered = _text(admin_client.get("/admin/audit?action=program.unsuspend"))
    assert "program.unsuspend" in filtered and "Klickbetrug" not in filtered


def test_actions_without_csrf_token_change_nothing(app, admin_client, shop):  # noqa: F811
    response = admin_client.post(
        f"/admin/customers/{shop}/program", data={"action": "suspend", "reason": "x"}
    )
    assert response.status_code == 400
    assert sql(app, "SELECT suspended_at FROM customers WHERE id=:i", i=shop)[0][0] is None


def test_deleting_a_customer_needs_its_code(app, admin_client, world, shop):  # noqa: F811
    url = f"/admin/customers/{shop}/delete"
    admin_client.post(url, data={"csrf_token": admin_client.csrf, "confirm": "falsch"})
    assert sql(app, "SELECT COUNT(*) FROM customers WHERE id=:i", i=shop)[0][0] == 1
    done = admin_client.post(
        url, data={"csrf_token": admin_client.csrf, "confirm": world.code(shop)}
    )
    assert done.headers["Location"].endswith("/admin/customers")
    for table in ("customers", "referral_clicks", "referral_fraud_log", "referral_leads"):
        column = "id" if table == "customers" else "customer_id"
        assert sql(app, f"SELECT COUNT(*) FROM {table} WHERE {column}=:i", i=shop)[0][0] == 0
    assert sql(app, "SELECT action FROM audit_log")[0][0] == "customer.delete"
    assert "Müller" in _text(admin_client.get("/admin/audit"))


def test_admin_erases_a_participant_by_code(app, admin_client, admin, world, shop):  # noqa: F811
    person = world.participant(shop)
    url = f"/admin/customers/{shop}/erase-participant"
    other = world.customer("Fremd GmbH")
    foreign = world.participant(other)
    refused = admin_client.post(
        url,
        data={"csrf_token": admin_client.csrf, "code": foreign["ref_code"]},
        follow_redirects=True,
    )
    assert "flash-error" in _text(refused)
    assert sql(app, "SELECT COUNT(*) FROM referral_leads WHERE id=:i", i=foreign["id"])[0][0] == 1
    admin_client.post(
        url, data={"csrf_token": admin_client.csrf, "code": person["ref_code"].lower()}
    )
    assert sql(app, "SELECT COUNT(*) FROM referral_leads WHERE id=:i", i=person["id"])[0][0] == 0
    user_id, action, target = sql(app, "SELECT user_id, action, target_id FROM audit_log")[0]
    assert (user_id, target) == (admin["id"], person["id"])
    assert action.startswith("participant.")


def test_fraud_log_page_filters_and_pages(admin_client, world):  # noqa: F811
    one = world.customer("Eins GmbH")
    two = world.customer("Zwei GmbH")
    world.fraud(one, "bot_user_agent", details={"user_agent_class": "headless"})
    world.fraud(two, "disposable_email", at=utcnow() - timedelta(days=20))
    world.fraud(two, "velocity", n=60)
    page = _text(admin_client.get("/admin/fraud"))
    assert page.count('id="fraud-entry-') == 50
    assert "page=2" in page
    by_customer = _text(admin_client.get(f"/admin/fraud?customer_id={one}"))
    assert by_customer.count('id="fraud-entry-') == 1 and "headless" in by_customer
    by_type = _text(admin_client.get("/admin/fraud?type=disposable_email"))
    assert by_type.count('id="fraud-entry-') == 1
    recent = (utcnow() - timedelta(days=5)).date().isoformat()
    by_date = _text(admin_client.get(f"/admin/fraud?type=disposable_email&since={recent}"))
    assert by_date.count('id="fraud-entry-') == 0
    old = (utcnow() - timedelta(days=25)).date().isoformat()
    until = (utcnow() - timedelta(days=15)).date().isoformat()
    window = _text(admin_client.get(f"/admin/fraud?since={old}&until={until}"))
    assert window.count('id="fraud-entry-') == 1
    fragment = _text(admin_client.get(f"/admin/fraud?customer_id={one}", headers=HX))
    assert fragment.lstrip().startswith('<section id="fraud-results"')


def test_fraud_log_page_shows_bad_filters_as_400(admin_client):  # noqa: F811
    response = admin_client.get("/admin/fraud?type=nope&customer_id=abc")
    assert response.status_code == 400
    assert "field-error" in _text(response)


def test_marking_fraud_entries_reviewed_by_form(app, admin_client, admin, world):  # noqa: F811
    shop = world.customer("Review GmbH")
    ids = world.fraud(shop, "alias_email", n=3)
    page = _text(admin_client.get("/admin/fraud"))
    assert 'form="review-one"' in page and 'form="review-bulk"' in page
    one = admin_client.post(
        "/admin/fraud/review",
        data={"csrf_token": admin_client.csrf, "ids": ids[0], "next": "/admin/fraud?reviewed=open"},
    )
    assert one.status_code == 302 and one.headers["Location"].endswith("/admin/fraud?reviewed=open")
    bulk = admin_client.post(
        "/admin/fraud/review",
        data={"csrf_token": admin_client.csrf, "ids": ids[1:]},
        follow_redirects=True,
    )
    assert "flash-success" in _text(bulk)
    rows = sql(app, "SELECT reviewed_by FROM referral_fraud_log WHERE reviewed_at IS NOT NULL")
    assert len(rows) == 3 and {r[0] for r in rows} == {admin["id"]}
    open_page = _text(admin_client.get("/admin/fraud?reviewed=open"))
    assert 'id="fraud-entry-' not in open_page
    reviewed_page = _text(admin_client.get("/admin/fraud?reviewed=reviewed"))
    assert reviewed_page.count('id="fraud-entry-') == 3 and admin["email"] in reviewed_page
    evil = admin_client.post(
        "/admin/fraud/review",
        data={"csrf_token": admin_client.csrf, "ids": ids[0], "next": "https://evil.example/"},
    )
    assert evil.headers["Location"].endswith("/admin/fraud")


def test_export_page_downloads_and_records_the_export(app, admin_client, shop):  # noqa: F811
    page = _text(admin_client.get("/admin/export"))
    assert 'hx-boost="false"' in page
    response = admin_client.post("/admin/export/stats.csv", data={"csrf_token": admin_client.csrf})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert "Müller" in response.get_data(as_text=True)
    fraud = admin_client.post(
        "/admin/export/fraud-log.csv",
        data={"csrf_token": admin_client.csrf, "type": "fast_conversion"},
    )
    assert "fast_conversion" in fraud.get_data(as_text=True)
    actions = [row[0] for row in sql(app, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["export.stats", "export.fraud_log"]
    refused = admin_client.post("/admin/export/stats.csv", data={})
    assert refused.status_code == 400


def test_backtest_page_shows_a_result(admin_client, world):  # noqa: F811
    shop = world.customer("Backtest GmbH")
    world.conversions(shop, 2, seconds=3.0)
    world.conversions(shop, 3, seconds=7.0)
    world.conversions(shop, 4, seconds=30.0)
    page = _text(admin_client.get("/admin/backtest?rule=fast_conversion&threshold=8"))
    candidate = re.search(r'id="backtest-candidate">(.*?)</tr>', page, re.S).group(1)
    current = re.search(r'id="backtest-current">(.*?)</tr>', page, re.S).group(1)
    assert "<strong>5</strong>" in candidate
    assert "<td>2</td>" in current
    bad = admin_client.get("/admin/backtest?rule=fast_conversion&threshold=-1")
    assert bad.status_code == 400 and "field-error" in _text(bad)
    assert admin_client.get("/admin/backtest?rule=nope").status_code == 400


def test_duplicate_clicks_never_count_as_clicks_on_the_overview(admin_client, world):  # noqa: F811
    shop = world.customer("Duplikat")
    world.clicks(shop, 2, status=STATUS_DUPLICATE)
    world.rebuild()
    body = admin_client.get("/api/referral/get-overview").get_json()
    assert body["clicks"] == 2 and body["unique_clicks"] == 0


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_anonymous_users_get_401_and_the_login_form_on_every_admin_page(client, method, path):
    token = csrf_token(client, "/login")
    response = client.open(path, method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 401
    assert 'action="/login?next=' in response.get_data(as_text=True)


def test_an_anonymous_htmx_poll_is_told_to_go_to_the_login(client):
    response = client.get("/admin/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
def test_customers_get_403_on_every_admin_page(client, auth, customer, method, path):
    auth.login(customer["email"], customer["password"])
    token = csrf_token(client, "/dashboard/")
    response = client.open(path, method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 403
