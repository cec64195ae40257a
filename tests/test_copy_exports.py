"""Issue 13 points 8–10: German Excel exports and time zones, search by part of a name or
address (nothing stored in plain text), the suspended customer's view, over-long input
refused, and copy that says what is true."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from sqlalchemy import inspect, select, text

from referral_app.extensions import db
from referral_app.models import ApiKey, Customer
from referral_app.reporting import participant_search

from .support_admin import admin_client, world  # noqa: F401
from .support_customer import add_milestone, add_participant, login_customer

WINTER = datetime(2026, 12, 6, 13, 5)  # UTC; 14:05 in Berlin, 08:05 in New York


@pytest.fixture
def logged_in(client, auth, customer):
    return login_customer(client, auth, customer)


def _set(app, customer_id: int, **values) -> None:
    with app.app_context():
        row = db.session.get(Customer, customer_id)
        for key, value in values.items():
            setattr(row, key, value)
        db.session.commit()


def _german_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no byte order mark: Excel garbles umlauts"
    body = data.decode("utf-8-sig")
    first_line = body.split("\r\n", 1)[0]
    assert ";" in first_line and "," not in first_line
    return list(csv.reader(io.StringIO(body, newline=""), delimiter=";"))


def test_participants_csv_is_german_excel_by_default(app, client, customer, logged_in):
    add_participant(app, customer["id"], "juergen@example.org", name="Jürgen Müller", at=WINTER)
    response = client.get("/dashboard/participants.csv")
    assert response.status_code == 200
    rows = _german_rows(response.data)
    header = rows[0]
    row = dict(zip(header, rows[1], strict=True))
    assert row["name"] == "Jürgen Müller"
    assert row["created_at"] == "06.12.2026 14:05"  # Europe/Berlin, the default zone
    assert row["confirmed_at"] == "06.12.2026 14:05"


def test_participants_csv_uses_the_customers_time_zone(app, client, customer, logged_in):
    _set(app, customer["id"], time_zone="America/New_York")
    add_participant(app, customer["id"], "ny@example.org", at=WINTER)
    rows = _german_rows(client.get("/dashboard/participants.csv?format=de").data)
    assert dict(zip(rows[0], rows[1], strict=True))["created_at"] == "06.12.2026 08:05"
    page = client.get("/dashboard/participants").get_data(as_text=True)
    assert "America/New_York" in page and "06.12.2026 08:05" in page
    assert 'datetime="2026-12-06T13:05:00Z"' in page


def test_participants_csv_plain_format_stays_for_scripts(app, client, customer, logged_in):
    add_participant(app, customer["id"], "plain@example.org", at=WINTER)
    body = client.get("/dashboard/participants.csv?format=plain").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert rows[0]["created_at"] == "2026-12-06T13:05:00Z"


def test_participants_csv_refuses_an_unknown_format(app, client, customer, logged_in):
    response = client.get("/dashboard/participants.csv?format=xlsx")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_admin_stats_csv_german_decimal_comma_and_local_times(app, admin_client, world):  # noqa: F811
    customer_id = world.customer("Bäckerei Größe")
    _set(app, customer_id, created_at=WINTER)
    world.clicks(customer_id, 3)
    world.conversions(customer_id, 1)
    world.rebuild()
    page = admin_client.get("/admin/export").get_data(as_text=True)
    assert 'name="format" value="de" checked' in page and 'value="plain"' in page
    response = admin_client.post(
        "/admin/export/stats.csv", data={"csrf_token": admin_client.csrf, "format": "de"}
    )
    rows = _german_rows(response.data)
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    row = by_id[str(customer_id)]
    assert row["company_name"] == "Bäckerei Größe"
    assert row["conversion_rate"] == "33,3"
    assert row["created_at"] == "06.12.2026 14:05"
    api = admin_client.get("/api/referral/export-stats?format=de&zone=Europe/London").data
    london = {r[0]: dict(zip(_german_rows(api)[0], r, strict=True)) for r in _german_rows(api)}
    assert london[str(customer_id)]["created_at"] == "06.12.2026 13:05"
    plain = admin_client.get("/api/referral/export-stats").data.decode("utf-8-sig")
    assert plain.startswith("customer_id,company_name")  # the API's contract is unchanged
    bad = admin_client.get("/api/referral/export-stats?format=de&zone=Mars/Olympus")
    assert bad.status_code == 400 and bad.get_json()["ok"] is False


def test_admin_fraud_csv_german(app, admin_client, world):  # noqa: F811
    customer_id = world.customer("Fraud GmbH")
    world.fraud(customer_id, "click_rate_limit", at=WINTER, details={"window_hours": 24})
    response = admin_client.post(
        "/admin/export/fraud-log.csv", data={"csrf_token": admin_client.csrf, "format": "de"}
    )
    rows = _german_rows(response.data)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["created_at"] == "06.12.2026 14:05"
    assert row["type"] == "click_rate_limit"  # the file keeps the code, as the API does


def test_admin_pages_show_berlin_time_and_fraud_rules_in_words(app, admin_client, world):  # noqa: F811
    customer_id = world.customer("Wörter GmbH")
    world.fraud(
        customer_id,
        "click_rate_limit",
        at=WINTER,
        details={"rule": "one counted click per visitor and code", "window_hours": 24},
    )
    html = admin_client.get("/admin/fraud").get_data(as_text=True)
    assert "06.12.2026 14:05" in html and "Europe/Berlin" in html
    assert "Too many clicks from one visitor" in html or "Zu viele Klicks" in html
    assert ">click_rate_limit<" not in html
    assert "window_hours" not in html and "rule:" not in html


def _raw_database_text(app) -> str:
    """Every stored value of every table, as text: what an attacker with the file sees."""
    chunks = []
    with app.app_context():
        for table in inspect(db.engine).get_table_names():
            for row in db.session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                for value in row:
                    if isinstance(value, bytes):
                        chunks.append(value.decode("latin-1"))
                    elif value is not None:
                        chunks.append(str(value))
    return "\n".join(chunks)


def test_search_finds_part_of_name_or_address_without_storing_plain_text(
    app, client, customer, logged_in
):
    add_participant(app, customer["id"], "juergen.brueckner@example.org", name="Jürgen Brückner")
    add_participant(app, customer["id"], "anna@example.org", name="Anna Schmidt")
    by_name = client.get("/dashboard/participants?q=BRÜCK").get_data(as_text=True)
    assert "juergen.brueckner@example.org" in by_name and "anna@example.org" not in by_name
    by_address = client.get("/dashboard/participants?q=ckner@exa").get_data(as_text=True)
    assert "juergen.brueckner@example.org" in by_address
    assert "anna@example.org" not in by_address
    api = client.get("/api/referral/participants?q=schmi").get_json()
    assert [item["email"] for item in api["items"]] == ["anna@example.org"]
    assert api["search_incomplete"] is False
    stored = _raw_database_text(app)
    for secret in ("Jürgen", "Brückner", "juergen.brueckner", "Schmidt", "anna@example.org"):
        assert secret not in stored


def test_search_decrypts_a_bounded_number_per_page_and_continues(
    app, client, customer, logged_in, monkeypatch
):
    add_participant(app, customer["id"], "alt@example.org", name="Gesuchte Person")
    for n in range(6):
        add_participant(app, customer["id"], f"neu{n}@example.org")
    monkeypatch.setattr(participant_search, "SCAN_LIMIT", 4)
    first = client.get("/api/referral/participants?q=gesucht").get_json()
    assert first["items"] == [] and first["search_incomplete"] is True
    second = client.get(f"/api/referral/participants?q=gesucht&cursor={first['next_cursor']}")
    found = second.get_json()
    assert [item["email"] for item in found["items"]] == ["alt@example.org"]
    assert found["search_incomplete"] is False and found["next_cursor"] is None
    page = client.get("/dashboard/participants?q=gesucht").get_data(as_text=True)
    assert 'id="search-incomplete"' in page and 'rel="next"' in page


def test_whole_address_still_finds_an_old_participant_beyond_the_bound(
    app, client, customer, logged_in, monkeypatch
):
    add_participant(app, customer["id"], "ganz.alt@example.org")
    for n in range(5):
        add_participant(app, customer["id"], f"neu{n}@example.org")
    monkeypatch.setattr(participant_search, "SCAN_LIMIT", 2)
    found = client.get("/api/referral/participants?q=GANZ.ALT@example.org").get_json()
    assert [item["email"] for item in found["items"]] == ["ganz.alt@example.org"]


def test_over_long_search_is_refused_not_cut(app, client, customer, logged_in):
    long_text = "a" * 255
    page = client.get(f"/dashboard/participants?q={long_text}")
    assert page.status_code == 400
    assert "254" in page.get_data(as_text=True)
    api = client.get(f"/api/referral/participants?q={long_text}")
    assert api.status_code == 400 and api.get_json()["error"] == "search_too_long"
    csv_answer = client.get(f"/dashboard/participants.csv?q={long_text}")
    assert csv_answer.status_code == 400


def test_over_long_api_key_name_is_refused_and_nothing_is_made(app, client, customer, logged_in):
    token = logged_in
    response = client.post("/dashboard/api-keys", data={"csrf_token": token, "name": "k" * 101})
    assert response.status_code == 400
    assert 'id="key-name-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []
    ok = client.post("/dashboard/api-keys", data={"csrf_token": token, "name": "k" * 100})
    assert ok.status_code == 201


def test_over_long_login_address_is_refused_with_a_message(client, auth):
    token = auth.csrf_token()
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": "x" * 300 + "@example.org", "password": "egal"},
    )
    assert response.status_code == 400
    assert "254" in response.get_data(as_text=True)


def test_suspended_customer_sees_reason_contact_and_a_switch_that_stays_off(
    app, client, customer, logged_in
):
    app.config["SUPPORT_EMAIL"] = "hilfe@plattform.example"
    _set(
        app,
        customer["id"],
        referral_enabled=False,
        suspended_at=WINTER,
        suspended_reason="Auffällig viele Conversions aus einem Netz",
    )
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "Auffällig viele Conversions aus einem Netz" in html
    assert 'href="mailto:hilfe@plattform.example"' in html
    assert 'id="toggle-button" disabled' in html
    answer = client.post(
        "/dashboard/program/toggle", data={"csrf_token": logged_in, "enabled": "true"}
    )
    assert answer.status_code in (303, 403)
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).referral_enabled is False
    api = client.post(
        "/api/referral/toggle", json={"enabled": True}, headers={"X-CSRFToken": logged_in}
    )
    assert api.status_code == 403, api.get_json()
    assert api.get_json()["error"] == "program_suspended"


def test_messages_name_no_parameters(app, client, customer, logged_in):
    limit = client.get("/api/referral/participants?limit=0").get_json()
    assert "'limit'" not in limit["message"] and "limit" not in limit["message"]
    toggle = client.post(
        "/api/referral/toggle",
        json={"enabled": "vielleicht"},
        headers={"X-CSRFToken": logged_in},
    )
    assert toggle.status_code == 400
    assert toggle.get_json()["error"] == "validation_failed"
    assert "enabled" not in toggle.get_json()["message"]
    assert "enabled" not in toggle.get_json()["fields"]["enabled"]
    lead = client.post(
        "/api/referral/register-lead",
        json={
            "ref": customer["ref_code"],
            "email": "lang@example.org",
            "consent": True,
            "name": "N" * 101,
        },
    )
    assert lead.status_code == 400
    assert not lead.get_json()["message"].startswith("name ")


def test_thankyou_page_lists_milestones_instead_of_a_reward_per_friend(app, client, customer):
    _set(app, customer["id"], imprint="Impressum", privacy_url="https://kunde.example/datenschutz")
    code = customer["ref_code"]
    plain = client.get(f"/p/{code}/danke").get_data(as_text=True)
    assert "every friend" not in plain and "jede Freundin" not in plain
    assert 'id="thankyou-milestones"' not in plain
    add_milestone(app, customer["id"], 3, "Bronze", "Das E-Book")
    add_milestone(app, customer["id"], 10, "Gold", "Ein Coaching")
    html = client.get(f"/p/{code}/danke").get_data(as_text=True)
    listing = html[html.index('id="thankyou-milestones"') :]
    assert listing.index("3") < listing.index("Das E-Book") < listing.index("Ein Coaching")


def test_signup_answer_is_the_same_for_new_and_known_addresses(app, client, customer):
    body = {"ref": customer["ref_code"], "email": "gleich@example.org", "consent": True}
    first = client.post("/api/referral/register-lead", json=body)
    again = client.post("/api/referral/register-lead", json=body)
    assert (first.status_code, first.get_json()) == (again.status_code, again.get_json())
    with open("static/referral-tracking.js", encoding="utf-8") as handle:
        script = handle.read()
    assert "gerade geschickt" not in script and "we just sent" not in script
    assert json.dumps(first.get_json())  # the answer carries no hint at a mail
