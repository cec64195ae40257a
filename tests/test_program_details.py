"""The program's details through HTTP: privacy notice, time zone, accent colour, logo and
allowed domains in update-company; the freebie (API, dashboard, hosted pages, download);
the launch rule (program_incomplete) and checklist; the program's look and legal links on
visitor pages and in real mails (SMTP)."""

from __future__ import annotations

import io
import re

import pytest
import time_machine
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Customer, CustomerFile

from .conftest import api_key_for
from .support_customer import login_customer
from .support_mail import html_of, smtp_server, text_of  # noqa: F401 - fixture
from .support_participants import (  # noqa: F401 - fixture
    PRIVACY_URL,
    confirm_by_form,
    mail_app,
    refer,
    signup,
    token_from,
)

PNG = (
    b"\x89PNG\r\n\x1a\n"
    + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    + b"\x00" * 64
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
COMPANY = {
    "company_name": "Müller & Söhne GmbH",
    "contact_email": "hallo@mueller-soehne.example",
    "imprint": "Müller & Söhne GmbH\nHauptstraße 5\n80331 München",
}


@pytest.fixture
def logged_in(client, auth, customer) -> str:
    return login_customer(client, auth, customer)


@pytest.fixture
def key(app, customer) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_for(app, customer['user_id'])}"}


def stored(app, customer_id: int) -> tuple[Customer, list[str]]:
    with app.app_context():
        row = db.session.get(Customer, customer_id)
        db.session.expunge(row)
        kinds = list(db.session.scalars(select(CustomerFile.kind)))
        return row, kinds


def test_update_company_takes_and_returns_the_program_details(app, client, customer, key):
    body = {
        **COMPANY,
        "privacy_url": "https://mueller-soehne.example/datenschutz",
        "time_zone": "America/New_York",
        "accent_color": "#FFD400",
        "allowed_domains": ["Mueller-Soehne.example", "https://shop.mueller-soehne.example/x"],
    }
    answer = client.post("/api/referral/update-company", json=body, headers=key)
    assert answer.status_code == 200, answer.get_json()
    company = answer.get_json()["company"]
    assert company["privacy_url"] == "https://mueller-soehne.example/datenschutz"
    assert company["time_zone"] == "America/New_York"
    assert company["accent_color"] == "#ffd400"
    assert company["allowed_domains"] == ["mueller-soehne.example", "shop.mueller-soehne.example"]
    assert company["logo_url"] is None

    # Left out, the program details keep their values (an older client knows none of them).
    again = client.post("/api/referral/update-company", json=COMPANY, headers=key).get_json()
    assert again["company"]["time_zone"] == "America/New_York"
    assert again["company"]["allowed_domains"] == company["allowed_domains"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accent_color", "red"),
        ("accent_color", "#12345g"),
        ("time_zone", "Mars/Olympus"),
        ("time_zone", "../../etc/passwd"),
        ("privacy_url", "http://mueller-soehne.example/datenschutz"),
        ("privacy_url", "https://javascript:alert(1)"),
        ("allowed_domains", ["not a host"]),
    ],
)
def test_bad_program_details_are_refused_with_a_field_message_and_nothing_stored(
    app, client, customer, key, field, value
):
    before, _kinds = stored(app, customer["id"])
    answer = client.post(
        "/api/referral/update-company", json={**COMPANY, field: value}, headers=key
    )
    body = answer.get_json()
    assert answer.status_code == 400, body
    assert body["ok"] is False and body["error"] == "validation_failed"
    assert field in body["fields"] and field not in body["fields"][field]
    after, _kinds = stored(app, customer["id"])
    assert (after.accent_color, after.time_zone, after.privacy_url, after.allowed_domains) == (
        before.accent_color,
        before.time_zone,
        before.privacy_url,
        before.allowed_domains,
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("logo.svg", SVG),
        ("logo.png", b"GIF89a not a png at all"),
        ("logo.png", PNG + b"\x00" * (512 * 1024)),
        ("logo.png", b""),
    ],
    ids=["svg", "untyped", "too-big", "empty"],
)
def test_a_logo_that_is_not_a_small_image_is_refused_and_nothing_changes(
    app, client, customer, key, name, data
):
    answer = client.post(
        "/api/referral/update-company",
        data={**COMPANY, "accent_color": "#112233", "logo": (io.BytesIO(data), name)},
        headers=key,
        content_type="multipart/form-data",
    )
    body = answer.get_json()
    assert answer.status_code == 400, body
    assert set(body["fields"]) == {"logo"}
    row, kinds = stored(app, customer["id"])
    assert kinds == [] and row.accent_color is None  # all or nothing


def test_a_logo_is_stored_served_by_the_app_and_replaced(app, client, customer, key):
    answer = client.post(
        "/api/referral/update-company",
        data={**COMPANY, "logo": (io.BytesIO(PNG), "../../Logo Müller.png")},
        headers=key,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200, answer.get_json()
    logo_url = answer.get_json()["company"]["logo_url"]
    assert logo_url.startswith(f"http://localhost/p/{customer['ref_code']}/logo?v=")
    served = client.get(logo_url.removeprefix("http://localhost"))
    assert served.status_code == 200 and served.data == PNG
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers.getlist("Set-Cookie") == []
    # The program info for the sign-up form carries it too.
    info = client.get(f"/api/referral/program?ref={customer['ref_code']}").get_json()
    assert info["logo_url"] == logo_url and info["privacy_url"] == PRIVACY_URL

    removed = client.post(
        "/api/referral/update-company", data={**COMPANY, "remove_logo": "1"}, headers=key
    )
    assert removed.get_json()["company"]["logo_url"] is None
    assert client.get(f"/p/{customer['ref_code']}/logo").status_code == 404


def test_a_request_too_large_for_the_route_is_413_and_other_routes_keep_their_small_limit(
    client, customer, key
):
    big = {**COMPANY, "logo": (io.BytesIO(PNG + b"\x00" * (2 * 1024 * 1024)), "logo.png")}
    answer = client.post(
        "/api/referral/update-company", data=big, headers=key, content_type="multipart/form-data"
    )
    assert answer.status_code == 413 and answer.get_json()["error"] == "payload_too_large"
    answer = client.post(
        "/api/referral/rewards",
        data={"title": "x" * (100 * 1024)},
        headers=key,
    )
    assert answer.status_code == 413


# --- the launch rule --------------------------------------------------------------------------


def test_a_program_cannot_go_live_without_impressum_and_privacy_notice(app, client, customer, key):
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.referral_enabled, row.imprint, row.privacy_url = False, None, None
        db.session.commit()
    answer = client.post("/api/referral/toggle", json={"enabled": True}, headers=key)
    body = answer.get_json()
    assert answer.status_code == 400
    assert body["ok"] is False and body["error"] == "program_incomplete"
    assert body["missing"] == ["imprint", "privacy_url"] and body["message"]
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).referral_enabled is False

    client.post(
        "/api/referral/update-company", json={**COMPANY, "privacy_url": PRIVACY_URL}, headers=key
    )
    answer = client.post("/api/referral/toggle", json={"enabled": True}, headers=key)
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "enabled": True}


def test_the_dashboard_switch_says_what_is_missing_and_a_new_overview_is_a_checklist(
    app, client, customer, logged_in
):
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.referral_enabled, row.privacy_url = False, None
        row.freebie_title = row.freebie_url = None
        db.session.commit()
    overview = client.get("/dashboard/").get_data(as_text=True)
    assert 'id="launch-checklist"' in overview and 'id="stats-empty"' in overview
    steps = dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', overview))
    assert steps == {
        "company": "yes",
        "privacy": "no",
        "freebie": "no",
        "rewards": "no",
        "embed": "no",
        "live": "no",
    }
    answer = client.post(
        "/dashboard/program/toggle",
        data={"enabled": "true"},
        headers={"HX-Request": "true", "X-CSRFToken": logged_in},
    )
    html = answer.get_data(as_text=True)
    assert 'id="status-error"' in html and "/dashboard/company#privacy_url" in html
    assert 'data-program-state="off"' in html


# --- the freebie --------------------------------------------------------------------------------


def test_the_freebie_api_sets_title_text_and_address(app, client, customer, key):
    answer = client.post(
        "/api/referral/freebie",
        json={"title": "Workbook", "description": "20 Seiten", "url": "mueller-soehne.example/wb"},
        headers=key,
    )
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["freebie"]["title"] == "Workbook"
    assert body["freebie"]["url"] == "https://mueller-soehne.example/wb"
    assert body["freebie"]["ready"] is True and body["freebie"]["file"] is None
    assert client.get("/api/referral/freebie", headers=key).get_json()["freebie"] == body["freebie"]

    for bad, field in (
        ({"description": "x"}, "title"),
        ({"title": "x", "url": "javascript:alert(1)"}, "url"),
        ({"title": "x"}, "url"),  # neither a file nor an address
    ):
        refused = client.post("/api/referral/freebie", json=bad, headers=key)
        assert refused.status_code == 400 and field in refused.get_json()["fields"], bad
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).freebie_title == "Workbook"


def test_the_thank_you_page_delivers_an_uploaded_file(app, client, customer, key):
    answer = client.post(
        "/api/referral/freebie",
        data={"title": "Checkliste", "file": (io.BytesIO(PDF), "Checkliste Ä.pdf")},
        headers=key,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200, answer.get_json()
    code = customer["ref_code"]
    page = client.get(f"/p/{code}/danke?ref={code}").get_data(as_text=True)
    link = re.search(r'id="freebie-download" href="([^"]+)"', page)
    assert link, page
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"] == 'attachment; filename="Checkliste-A.pdf"'
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers.getlist("Set-Cookie") == []

    not_a_pdf = client.post(
        "/api/referral/freebie",
        data={"title": "x", "file": (io.BytesIO(b"MZ\x90\x00 an exe"), "freebie.pdf")},
        headers=key,
        content_type="multipart/form-data",
    )
    assert not_a_pdf.status_code == 400 and "file" in not_a_pdf.get_json()["fields"]
    assert client.get(link.group(1)).data == PDF  # the old one stays


def test_without_a_freebie_the_pages_say_so_and_offer_no_broken_button(app, client, customer):
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.freebie_title = row.freebie_url = None
        db.session.commit()
    code = customer["ref_code"]
    for path in (f"/p/{code}?ref={code}", f"/p/{code}/danke"):
        page = client.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert 'id="freebie-pending"' in html
        assert 'id="freebie-form"' not in html and 'id="freebie-download"' not in html


@pytest.mark.parametrize("how", ["off", "suspended"])
def test_an_inactive_program_still_shows_and_delivers_the_freebie(app, client, customer, how):
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        if how == "off":
            row.referral_enabled = False
        else:
            row.suspended_at = row.created_at
        db.session.commit()
    code = customer["ref_code"]
    freebie = client.get(f"/p/{code}?ref={code}")
    thanks = client.get(f"/p/{code}/danke?ref={code}")
    for answer in (freebie, thanks):
        html = answer.get_data(as_text=True)
        assert answer.status_code == 200
        assert "referral-tracking.js" not in html and 'id="referral-signup"' not in html
        assert 'id="imprint-link"' in html and 'id="privacy-link"' in html
    assert 'id="freebie-form"' in freebie.get_data(as_text=True)
    assert 'href="https://mueller-soehne.example/checkliste"' in thanks.get_data(as_text=True)
    unknown = client.get("/p/REFDOESNOTEXIST1")
    assert unknown.status_code == 404 and 'data-status="404"' in unknown.get_data(as_text=True)


def test_visitor_pages_carry_the_look_and_the_legal_links(app, client, customer, key):
    client.post(
        "/api/referral/update-company",
        data={**COMPANY, "accent_color": "#ffd400", "logo": (io.BytesIO(PNG), "l.png")},
        headers=key,
        content_type="multipart/form-data",
    )
    code = customer["ref_code"]
    page = client.get(f"/p/{code}?ref={code}").get_data(as_text=True)
    assert f'href="/p/{code}/theme.css?v=ffd400"' in page
    assert f'src="/p/{code}/logo?v=' in page and 'alt="Müller &amp; Söhne GmbH"' in page
    assert f'href="/p/{code}/impressum"' in page and f'href="{PRIVACY_URL}"' in page
    css = client.get(f"/p/{code}/theme.css")
    assert css.mimetype == "text/css"
    # Yellow is light: dark text on it, and links keep a readable colour.
    assert "--brand: #ffd400; --brand-fg: #1b1f24;" in css.get_data(as_text=True)
    assert "--accent: #0b5cad;" in css.get_data(as_text=True)
    imprint = client.get(f"/p/{code}/impressum")
    assert imprint.status_code == 200 and "Hauptstraße 5" in imprint.get_data(as_text=True)
    assert imprint.headers.getlist("Set-Cookie") == []


# --- mails (real SMTP) ----------------------------------------------------------------------


def test_welcome_and_reward_mails_carry_logo_impressum_privacy_and_freebie(
    mail_app,
    smtp_server,
    customer,  # noqa: F811
):
    client = mail_app.test_client()
    key = {"Authorization": f"Bearer {api_key_for(mail_app, customer['user_id'])}"}
    answer = client.post(
        "/api/referral/update-company",
        data={
            **COMPANY,
            "privacy_url": PRIVACY_URL,
            "accent_color": "#8250df",
            "logo": (io.BytesIO(PNG), "logo.png"),
        },
        headers=key,
        content_type="multipart/form-data",
    )
    logo_url = answer.get_json()["company"]["logo_url"]
    code = customer["ref_code"]
    with time_machine.travel("2026-03-02 09:00:00", tick=True) as traveller:
        assert signup(client, code, "eva@example.org", name="Eva").status_code == 202
        [confirmation] = smtp_server.to("eva@example.org")
        assert "checkliste" not in text_of(confirmation)  # no freebie in the DOI mail
        confirm_by_form(client, token_from(confirmation))
        welcome = smtp_server.to("eva@example.org")[-1]
        with mail_app.app_context():
            from referral_app.models import Participant

            ref_code = db.session.scalar(select(Participant.ref_code))
        refer(client, ref_code, 3, traveller)
        assert mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"]).exit_code == 0
    reward = smtp_server.to("eva@example.org")[-1]
    assert "Bronze" in str(reward["Subject"]) or "Belohnung" in str(reward["Subject"])
    for message in (confirmation, welcome, reward):
        html, text = html_of(message), text_of(message)
        assert f'src="{logo_url}"' in html.replace("&amp;", "&")
        assert f'href="http://localhost/p/{code}/impressum"' in html
        assert f'href="{PRIVACY_URL}"' in html and PRIVACY_URL in text
        assert f"http://localhost/p/{code}/impressum" in text
        assert "#8250df" in html  # the accent colour, inline
    assert "https://mueller-soehne.example/checkliste" in text_of(welcome)
