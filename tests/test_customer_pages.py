"""The customer dashboard pages and their HTMX fragments, as a customer uses them: with
JavaScript (fragments swap) and without (plain posts, full pages, redirects with a flash)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from referral_app.extensions import db
from referral_app.models import Customer, RewardMilestone, utcnow

from .support_customer import (  # noqa: F401 - fixtures
    add_click,
    add_conversion,
    add_failed_mail,
    add_milestone,
    add_participant,
    csrf_from,
    grant,
    login_customer,
    other_customer,
    shown_numbers,
)

HX = {"HX-Request": "true"}


def hx(token: str) -> dict[str, str]:
    return {**HX, "X-CSRFToken": token}


@pytest.fixture
def logged_in(client, auth, customer):
    return login_customer(client, auth, customer)


def _traffic(app, customer):
    """A few days of mixed traffic: counted, duplicate, blocked, suspicious."""
    now = utcnow()
    code = customer["ref_code"]
    for days_ago in (0, 1, 2, 9, 10):
        add_click(app, customer["id"], code, at=now - timedelta(days=days_ago))
    add_click(app, customer["id"], code, status="duplicate")
    add_click(app, customer["id"], code, status="blocked", reason="bot_user_agent")
    add_conversion(app, customer["id"], code)
    add_conversion(app, customer["id"], code, suspicious=True, reasons=["fast_conversion"])
    add_participant(app, customer["id"], "anna@example.org", status="confirmed")
    add_participant(app, customer["id"], "ben@example.org", status="pending")


# --- overview and the live panel ----------------------------------------------------------


def test_overview_shows_the_same_numbers_as_get_stats(app, client, customer, logged_in):
    _traffic(app, customer)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    stats = client.get("/api/referral/get-stats").get_json()
    shown = shown_numbers(html)
    last = stats["last_30_days"]
    for name in ("clicks", "unique_clicks", "conversions", "suspicious_conversions", "leads"):
        assert int(shown[name]) == last[name], name
    assert int(shown["confirmed_leads"]) == last["confirmed_leads"]
    assert float(shown["conversion_rate"]) == last["conversion_rate"]
    assert float(shown["suspicious_share"]) == 50.0
    assert float(shown["confirmed_share"]) == 50.0
    for name in ("clicks", "conversions", "leads"):
        assert int(shown[f"totals.{name}"]) == stats["totals"][name]
    assert customer["ref_code"] in html
    assert f"/p/{customer['ref_code']}" in html
    assert "<svg" in html and "chart-clicks" in html
    # the trend: 4 clicks this week (a duplicate counts as a click) against 2 before
    assert stats["trend_7d"]["clicks"] == 100.0
    assert 'data-trend="100.0"' in html


def test_chart_points_follow_the_daily_numbers(app, client, customer, logged_in):
    add_click(app, customer["id"], customer["ref_code"])
    add_click(app, customer["id"], customer["ref_code"])
    html = client.get("/dashboard/").get_data(as_text=True)
    points = re.search(r'class="chart-line chart-clicks" points="([^"]+)"', html).group(1)
    ys = [float(pair.split(",")[1]) for pair in points.split()]
    assert len(ys) == 30
    assert ys[-1] < ys[0]  # today (2 clicks) is drawn above the empty first day


def test_stats_fragment_is_only_the_panel_and_polls(client, customer, logged_in):
    response = client.get("/dashboard/stats", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="stats-panel"')
    assert 'hx-trigger="every 10s"' in html and "data-poll" in html
    assert 'hx-swap="outerHTML"' in html
    assert "<html" not in html


def test_stats_fragment_answers_304_until_something_changes(app, client, customer, logged_in):
    first = client.get("/dashboard/stats", headers=HX)
    etag = first.headers["ETag"]
    assert etag
    again = client.get("/dashboard/stats", headers={**HX, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    add_click(app, customer["id"], customer["ref_code"])
    changed = client.get("/dashboard/stats", headers={**HX, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert shown_numbers(changed.get_data(as_text=True))["clicks"] == "1"


def test_why_not_counted_lists_each_reason(app, client, customer, logged_in):
    code = customer["ref_code"]
    add_click(app, customer["id"], code, status="duplicate")
    add_click(app, customer["id"], code, status="blocked", reason="bot_user_agent")
    add_click(app, customer["id"], code, status="blocked", reason="ip_daily_limit")
    add_conversion(app, customer["id"], code, suspicious=True, reasons=["fast_conversion"])
    add_conversion(app, customer["id"], code, status="blocked", reasons=["self_referral"])
    add_conversion(app, customer["id"], code, suspicious=True, reasons=["no_prior_click"])
    add_click(app, customer["id"], code)  # counted: not listed
    overview = client.get("/dashboard/").get_data(as_text=True)
    assert 'hx-get="/dashboard/not-counted" hx-trigger="load"' in overview
    assert 'href="/dashboard/not-counted"' in overview  # the way without JavaScript
    fragment = client.get("/dashboard/not-counted", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="not-counted"')
    html = client.get("/dashboard/not-counted", headers={"Accept-Language": "en"})
    html = html.get_data(as_text=True)
    assert "<html" in html
    panel = html[html.index('id="not-counted"') :]
    assert panel.count("<tr data-kind=") == 6
    for text in (
        "Already counted",
        "bot or automated browser",
        "one network (IP address)",
        "Too fast",
        "Self-referral",
        "No prior click",
    ):
        assert text in panel, text


def test_failed_mails_are_shown_on_the_overview(app, client, customer, logged_in):
    assert 'id="failed-mails"' not in client.get("/dashboard/").get_data(as_text=True)
    add_failed_mail(app, customer["id"])
    add_failed_mail(app, customer["id"])
    html = client.get("/dashboard/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="failed-mails"' in html
    assert "could not be sent: 2." in html


# --- toggle --------------------------------------------------------------------------------


def test_toggle_with_htmx_swaps_the_status_with_the_server_state(app, client, customer, logged_in):
    response = client.post(
        "/dashboard/program/toggle", data={"enabled": "false"}, headers=hx(logged_in)
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="program-status"')
    assert 'data-program-state="off"' in html
    assert client.get("/api/referral/get-stats").get_json()["enabled"] is False
    response = client.post(
        "/dashboard/program/toggle", data={"enabled": "true"}, headers=hx(logged_in)
    )
    assert 'data-program-state="on"' in response.get_data(as_text=True)


def test_toggle_without_javascript_redirects_with_a_flash(client, customer, logged_in):
    response = client.post(
        "/dashboard/program/toggle",
        data={"enabled": "false", "csrf_token": logged_in},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert "The program is off." in html
    assert 'data-program-state="off"' in html


def test_a_suspended_program_cannot_be_switched_on(app, client, customer, logged_in):
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.suspended_at = utcnow()
        row.referral_enabled = False
        db.session.commit()
    response = client.post(
        "/dashboard/program/toggle", data={"enabled": "true"}, headers=hx(logged_in)
    )
    html = response.get_data(as_text=True)
    assert 'data-program-state="suspended"' in html
    assert 'role="alert"' in html


# --- company details -----------------------------------------------------------------------

VALID_COMPANY = {
    "company_name": "Müller & Söhne GmbH",
    "contact_email": "info@mueller.example",
    "sender_name": "Familie Müller",
    "website": "mueller.example",
    "imprint": "Müller & Söhne GmbH\nHauptstraße 1\n12345 Musterstadt",
    "language": "de",
}


def test_company_page_shows_the_form_and_a_mail_preview(client, customer, logged_in):
    html = client.get("/dashboard/company").get_data(as_text=True)
    assert 'id="company-form"' in html
    assert 'id="mail-preview"' in html
    assert "keyup changed delay:500ms" in html
    for field in ("company_name", "contact_email", "sender_name", "website", "imprint", "language"):
        assert f'<label for="{field}"' in html


def test_invalid_company_details_render_inline_errors(client, customer, logged_in):
    data = {**VALID_COMPANY, "company_name": "", "contact_email": "kein-at", "website": "a b"}
    response = client.post("/dashboard/company", data={**data, "csrf_token": logged_in})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("company_name", "contact_email", "website"):
        assert f'id="{field}-error"' in html, field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', html, re.S), field
    assert 'id="imprint-error"' not in html
    assert "<html" in html  # without JavaScript: the whole page, errors inline
    fragment = client.post("/dashboard/company", data=data, headers=hx(logged_in))
    assert fragment.status_code == 422
    assert fragment.get_data(as_text=True).lstrip().startswith('<form id="company-form"')


def test_valid_company_details_are_saved(app, client, customer, logged_in):
    response = client.post("/dashboard/company", data={**VALID_COMPANY, "csrf_token": logged_in})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        assert row.website == "https://mueller.example"
        assert row.imprint.endswith("Musterstadt")
        assert row.sender_name == "Familie Müller"
    fragment = client.post(
        "/dashboard/company", data={**VALID_COMPANY, "language": "en"}, headers=hx(logged_in)
    )
    assert fragment.status_code == 200
    assert 'role="status"' in fragment.get_data(as_text=True)


def test_mail_preview_follows_the_unsaved_form(app, client, customer, logged_in):
    data = {**VALID_COMPANY, "imprint": "Vorschau-Impressum 123", "language": "en"}
    response = client.post("/dashboard/company/preview", data=data, headers=hx(logged_in))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Vorschau-Impressum 123" in html
    assert "Please confirm" in html  # the mail's language, English
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).imprint.startswith("Müller")


# --- participants --------------------------------------------------------------------------


def test_participants_page_lists_referrals_and_rewards(app, client, customer, logged_in):
    anna = add_participant(app, customer["id"], "anna@example.org", name="Anna")
    add_participant(app, customer["id"], "ben@example.org", status="pending")
    add_conversion(app, customer["id"], anna["ref_code"], participant_id=anna["id"])
    bronze = add_milestone(app, customer["id"], 1, "Bronze", "Checkliste")
    grant(app, anna["id"], bronze)
    html = client.get("/dashboard/participants").get_data(as_text=True)
    assert "anna@example.org" in html and "ben@example.org" in html
    row = html[html.index(f'data-participant-id="{anna["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-referrals="1"' in row
    assert "Bronze" in row
    assert f"/dashboard/participants/{anna['id']}/delete" in row


def test_participant_search_finds_whole_address_code_or_part(app, client, customer, logged_in):
    anna = add_participant(app, customer["id"], "anna@example.org")
    add_participant(app, customer["id"], "ben@example.org")
    html = client.get("/dashboard/participants?q=ANNA@example.org").get_data(as_text=True)
    assert "anna@example.org" in html and "ben@example.org" not in html
    html = client.get(f"/dashboard/participants?q={anna['ref_code'].lower()}").get_data(
        as_text=True
    )
    assert "anna@example.org" in html and "ben@example.org" not in html
    html = client.get("/dashboard/participants?q=NNA@exa").get_data(as_text=True)
    assert "anna@example.org" in html and "ben@example.org" not in html
    fragment = client.get("/dashboard/participants?status=pending", headers=HX)
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="participant-list"')


def test_participants_page_paginates(app, client, customer, logged_in):
    for n in range(53):
        add_participant(app, customer["id"], f"p{n}@example.org")
    first = client.get("/dashboard/participants").get_data(as_text=True)
    assert first.count("data-participant-id=") == 50
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(next_link).get_data(as_text=True)
    assert second.count("data-participant-id=") == 3
    assert 'rel="next"' not in second


def test_participants_csv_export(app, client, customer, logged_in, other_customer):
    add_participant(app, customer["id"], "anna@example.org", name="=HYPERLINK()")
    add_participant(app, other_customer["id"], "fremd@example.org")
    response = client.get("/dashboard/participants.csv?format=plain")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the umlauts right
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "email", "name"]
    assert len(rows) == 2
    assert rows[1][1] == "anna@example.org"
    assert rows[1][2] == "'=HYPERLINK()"  # no formula injection into spreadsheets


def test_participant_delete_asks_first_then_erases(app, client, customer, logged_in):
    pytest.importorskip("referral_app.participants.signup")
    anna = add_participant(app, customer["id"], "anna@example.org")
    page = client.get(f"/dashboard/participants/{anna['id']}/delete")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "anna@example.org" in html
    assert f'action="/dashboard/participants/{anna["id"]}/delete"' in html
    response = client.post(
        f"/dashboard/participants/{anna['id']}/delete", data={"csrf_token": logged_in}
    )
    assert response.status_code == 303
    assert "anna@example.org" not in client.get("/dashboard/participants").get_data(as_text=True)


def test_participant_json_export_is_a_download(app, client, customer, logged_in):
    pytest.importorskip("referral_app.participants.signup")
    anna = add_participant(app, customer["id"], "anna@example.org")
    response = client.get(f"/dashboard/participants/{anna['id']}/export.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert "anna@example.org" in response.get_data(as_text=True)


# --- rewards -------------------------------------------------------------------------------


def _milestones(app, customer_id):
    with app.app_context():
        rows = db.session.scalars(
            db.select(RewardMilestone)
            .where(RewardMilestone.customer_id == customer_id)
            .order_by(RewardMilestone.threshold)
        )
        return [(m.threshold, m.tier) for m in rows]


def test_rewards_editor_adds_edits_reorders_and_removes(app, client, customer, logged_in):
    reward = {"threshold": "3", "tier": "Bronze", "title": "Checkliste", "delivery": "Link"}
    response = client.post("/dashboard/rewards", data={**reward, "csrf_token": logged_in})
    assert response.status_code == 303
    response = client.post(
        "/dashboard/rewards",
        data={"threshold": "10", "tier": "Gold", "title": "Coaching"},
        headers=hx(logged_in),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="reward-editor"')
    assert _milestones(app, customer["id"]) == [(3, "Bronze"), (10, "Gold")]
    with app.app_context():
        gold = db.session.scalar(
            db.select(RewardMilestone.id).where(RewardMilestone.tier == "Gold")
        )
    client.post(f"/dashboard/rewards/{gold}/move", data={"direction": "up"}, headers=hx(logged_in))
    assert _milestones(app, customer["id"]) == [(3, "Gold"), (10, "Bronze")]
    client.post(
        f"/dashboard/rewards/{gold}",
        data={"threshold": "5", "tier": "Gold", "title": "Coaching"},
        headers=hx(logged_in),
    )
    assert _milestones(app, customer["id"]) == [(5, "Gold"), (10, "Bronze")]
    client.post(f"/dashboard/rewards/{gold}/delete", data={"csrf_token": logged_in})
    assert _milestones(app, customer["id"]) == [(10, "Bronze")]


def test_reward_validation_errors_render_inline(app, client, customer, logged_in):
    add_milestone(app, customer["id"], 3, "Bronze", "Checkliste")
    response = client.post(
        "/dashboard/rewards",
        data={"threshold": "3", "tier": "", "title": "x"},
        headers=hx(logged_in),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="threshold-error"' in html and 'id="tier-error"' in html
    no_js = client.post("/dashboard/rewards", data={"threshold": "0", "csrf_token": logged_in})
    assert no_js.status_code == 422
    assert 'id="threshold-error"' in no_js.get_data(as_text=True)
    with app.app_context():
        reward = db.session.scalar(db.select(RewardMilestone.id))
    edit = client.post(
        f"/dashboard/rewards/{reward}",
        data={"threshold": "3", "tier": "", "title": "x"},
        headers=hx(logged_in),
    )
    assert edit.status_code == 422
    html = edit.get_data(as_text=True)
    assert f'id="edit-{reward}-tier-error"' in html
    assert "<details open>" in html


# --- embed and API keys --------------------------------------------------------------------


def test_embed_page_has_snippets_links_and_qr_codes(client, customer, logged_in):
    html = client.get("/dashboard/embed").get_data(as_text=True)
    code = customer["ref_code"]
    assert (
        "&lt;script src=&#34;http://localhost/static/referral-tracking.js&#34; "
        "data-page=&#34;freebie&#34; async&gt;&lt;/script&gt;"
    ) in html
    assert "data-page=&#34;thankyou&#34;" in html
    assert f"http://localhost/p/{code}/danke" in html
    assert 'data-copy="#snippet-freebie"' in html
    svg = client.get("/dashboard/embed/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.get_data()
    png = client.get("/dashboard/embed/qr.png?download=1")
    assert png.get_data()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"qr-{code}.png" in png.headers["Content-Disposition"]


def test_api_key_is_shown_once_listed_by_prefix_and_revoked(app, client, customer, logged_in):
    response = client.post("/dashboard/api-keys", data={"name": "CRM", "csrf_token": logged_in})
    html = response.get_data(as_text=True)
    assert response.status_code == 201
    raw = re.search(r'id="new-key" type="text" readonly value="(rk_[^"]+)"', html).group(1)
    auth_header = {"Authorization": f"Bearer {raw}"}
    outside = app.test_client()  # another program using the key, no session
    assert outside.get("/api/referral/get-stats", headers=auth_header).status_code == 200
    listing = client.get("/dashboard/api-keys").get_data(as_text=True)
    assert raw not in listing and raw[:10] in listing
    key_id = re.search(r'data-key-id="(\d+)"', listing).group(1)
    response = client.post(f"/dashboard/api-keys/{key_id}/revoke", data={"csrf_token": logged_in})
    assert response.status_code == 303
    assert outside.get("/api/referral/get-stats", headers=auth_header).status_code == 401


# --- every page: language, phone, no foreign hosts -----------------------------------------

PAGES = [
    "/dashboard/",
    "/dashboard/not-counted",
    "/dashboard/company",
    "/dashboard/participants",
    "/dashboard/rewards",
    "/dashboard/embed",
    "/dashboard/api-keys",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_in_both_languages(client, customer, logged_in, path):
    german = client.get(path)
    assert german.status_code == 200
    html = german.get_data(as_text=True)
    assert 'lang="de"' in html
    assert 'name="viewport"' in html
    assert 'aria-current="page"' in html
    assert " style=" not in html and "<script>" not in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        own = url.startswith("/") or url.startswith("#") or url.startswith("http://localhost")
        # the mail preview links the customer's own privacy notice: a link, nothing loaded
        assert own or url == "https://mueller-soehne.example/datenschutz"
    english = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en"' in english and "Overview" in english


def test_language_switch_changes_the_dashboard_language(client, customer, logged_in):
    client.post("/language", data={"lang": "en", "csrf_token": logged_in, "next": "/dashboard/"})
    assert 'lang="en"' in client.get("/dashboard/").get_data(as_text=True)


def test_other_customers_data_never_shows(app, client, customer, other_customer, logged_in):
    add_participant(app, other_customer["id"], "fremd@example.org")
    add_click(app, other_customer["id"], other_customer["ref_code"], status="duplicate")
    assert "fremd@example.org" not in client.get("/dashboard/participants").get_data(as_text=True)
    overview = client.get("/dashboard/").get_data(as_text=True)
    assert other_customer["ref_code"] not in overview
    assert csrf_from(overview)
