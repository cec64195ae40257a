"""Visitor and participant pages store nothing on the device (§ 25 TDDDG): the whole way from
the hosted freebie page to "delete my data", with a fresh client, answers without a single
`Set-Cookie` and leaves the cookie jar empty; their forms refuse posts from other sites
without needing a session; the customer and admin areas keep their session cookie."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import flash, session
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Customer, Participant

from .conftest import TEST_REDIS_URL
from .support_browser import serve
from .support_mail import smtp_server, text_of  # noqa: F401
from .support_participants import (
    OWN_BROWSER,
    confirm_by_form,
    count,
    mail_app,  # noqa: F401
    participant_row,
    setup_program,
    signup,
    token_from,
)
from .support_tracking import CHROME
from .test_tracking_browser import in_browser, new_page, other_origin, wait_until  # noqa: F401

SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
EVIL = "https://evil.example"


class CookieWatch:
    """A fresh browser-like client that fails the test on any `Set-Cookie`."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        self.seen: list[str] = []

    def request(self, method: str, path: str, **kwargs):
        headers = {"User-Agent": OWN_BROWSER, **kwargs.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        response.get_data()
        assert response.headers.getlist("Set-Cookie") == [], (method, path)
        assert "Cookie" not in response.headers.get("Vary", ""), (method, path)
        self.seen.append(f"{method} {path.split('?')[0]} {response.status_code}")
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def jar(self) -> list:
        # Werkzeug's test client keeps its cookie jar here (there is no public listing).
        return list(self.client._cookies.values())


def _no_session_things(html: str) -> None:
    assert 'name="csrf_token"' not in html and "X-CSRFToken" not in html
    assert 'action="/language"' not in html and 'action="/logout"' not in html


def _form_action(html: str, form_id: str | None = None) -> str:
    pattern = r'<form method="post" action="([^"]+)"'
    if form_id:
        pattern = rf'<form method="post" action="([^"]+)" id="{form_id}"'
    match = re.search(pattern, html)
    assert match, html
    return match.group(1).replace("&amp;", "&")


def _confirmed_participant(app, client, smtp, ref_code: str, email: str) -> dict:
    """Sign up and confirm through the API; the links from the welcome mail."""
    assert signup(client, ref_code, email).status_code == 202
    confirmed = confirm_by_form(client, token_from(smtp.to(email)[-1]))
    assert confirmed.status_code == 303
    welcome = smtp.to(email)[-1]
    row = participant_row(app, email_hash_of=email)
    return {
        "id": row.id,
        "hub": f"/hub/{token_from(welcome, 'hub')}",
        "unsubscribe": f"/unsubscribe/{token_from(welcome, 'unsubscribe')}",
    }


# --- the whole way, no cookie ----------------------------------------------------------------


def test_the_whole_visitor_and_participant_journey_sets_no_cookie(mail_app, smtp_server, customer):
    code = customer["ref_code"]
    visitor = CookieWatch(mail_app)

    # The hosted freebie page (the program link redirects to ?ref=) and its thank-you page.
    assert visitor.get(f"/p/{code}").status_code == 302
    freebie = visitor.get(f"/p/{code}?ref={code}")
    assert freebie.status_code == 200
    html = freebie.get_data(as_text=True)
    assert 'id="freebie-form"' in html and "referral-tracking.js" in html
    _no_session_things(html)
    thankyou = visitor.get(f"/p/{code}/danke?ref={code}")
    assert thankyou.status_code == 200
    _no_session_things(thankyou.get_data(as_text=True))

    # What the tracking script does there: click, conversion, program info, sign-up.
    click = visitor.post("/api/referral/track-click", json={"ref": code})
    assert click.get_json()["status"] == "tracked"
    conversion = visitor.post(
        "/api/referral/track-conversion",
        json={"ref": code, "click_id": click.get_json()["click_id"]},
    )
    assert conversion.get_json()["ok"] is True
    assert visitor.get(f"/api/referral/program?ref={code}").get_json()["ok"] is True
    signed_up = visitor.post(
        "/api/referral/register-lead",
        json={"ref": code, "email": "anna@example.org", "consent": True},
        headers=SAME_ORIGIN,
    )
    assert signed_up.status_code == 202

    # The link in the confirmation mail: a page whose GET changes nothing ...
    [mail] = smtp_server.to("anna@example.org")
    token = token_from(mail)
    page = visitor.get(f"/api/referral/confirm-lead?token={token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    _no_session_things(html)
    assert participant_row(mail_app, email_hash_of="anna@example.org").status == "pending"

    # ... and its form's POST confirms and leads to the hub.
    confirmed = visitor.post(
        _form_action(html, "confirm-form"), data={"token": token}, headers=SAME_ORIGIN
    )
    assert confirmed.status_code == 303
    hub_path = confirmed.headers["Location"]
    assert participant_row(mail_app, email_hash_of="anna@example.org").status == "confirmed"
    hub = visitor.get(hub_path)
    assert hub.status_code == 200 and "referral-link" in hub.get_data(as_text=True)
    _no_session_things(hub.get_data(as_text=True))

    # Unsubscribe from the welcome mail's link: the page, then its button.
    welcome = smtp_server.to("anna@example.org")[-1]
    unsubscribe_path = f"/unsubscribe/{token_from(welcome, 'unsubscribe')}"
    page = visitor.get(unsubscribe_path).get_data(as_text=True)
    _no_session_things(page)
    answer = visitor.post(_form_action(page), data={"action": "unsubscribe"}, headers=SAME_ORIGIN)
    assert answer.status_code == 200 and 'id="unsubscribed"' in answer.get_data(as_text=True)
    assert participant_row(mail_app, email_hash_of="anna@example.org").status == "unsubscribed"

    # Delete my data from the hub: the confirmation page, then its POST.
    delete_page = visitor.get(f"{hub_path}/delete")
    assert delete_page.status_code == 200
    html = delete_page.get_data(as_text=True)
    _no_session_things(html)
    deleted = visitor.post(_form_action(html), headers=SAME_ORIGIN)
    assert deleted.status_code == 200 and 'id="deleted"' in deleted.get_data(as_text=True)
    assert participant_row(mail_app, email_hash_of="anna@example.org") is None

    # The links are dead now: error pages, still without a cookie.
    assert visitor.get(hub_path).status_code == 404
    assert visitor.get(unsubscribe_path).status_code == 404
    assert visitor.get(f"/api/referral/confirm-lead?token={token}").status_code == 400
    assert visitor.jar() == []


def test_the_unsubscribe_pages_delete_button_sets_no_cookie(mail_app, smtp_server, customer):
    links = _confirmed_participant(
        mail_app, mail_app.test_client(), smtp_server, customer["ref_code"], "ben@example.org"
    )
    visitor = CookieWatch(mail_app)
    page = visitor.get(links["unsubscribe"]).get_data(as_text=True)
    answer = visitor.post(_form_action(page), data={"action": "delete"}, headers=SAME_ORIGIN)
    assert answer.status_code == 200 and 'id="deleted"' in answer.get_data(as_text=True)
    assert participant_row(mail_app, participant_id=links["id"]) is None
    assert visitor.jar() == []


def test_error_pages_for_visitors_use_the_cookie_free_layout(make_app, backend_name, customer):
    limits = {"RATELIMIT_ENABLED": True, "RATELIMIT_TOKEN_ROUTES": "2/minute"}
    if backend_name == "mariadb" and TEST_REDIS_URL:
        limits["RATELIMIT_STORAGE_URI"] = TEST_REDIS_URL
    app = make_app(**limits)
    visitor = CookieWatch(app)
    assert visitor.get("/favicon.ico").status_code == 200  # browsers fetch it by themselves
    for path, status in [
        ("/hub/" + "A" * 32, 404),
        ("/hub/" + "A" * 32 + "/delete", 404),
        ("/unsubscribe/1/" + "A" * 32, 404),
        ("/p/REFNOSUCHCODE", 404),
        ("/hub/" + "B" * 32, 404),
        ("/hub/" + "C" * 32, 429),
    ]:
        response = visitor.get(path)
        assert response.status_code == status, path
        html = response.get_data(as_text=True)
        assert f'data-status="{status}"' in html, path
        _no_session_things(html)
        assert response.headers["Cache-Control"] == "no-store"
    answer = visitor.get("/hub/" + "D" * 32, headers={"Accept": "application/json"})
    assert answer.get_json()["error"] == "rate_limited"
    assert visitor.jar() == []


def test_a_hook_touching_the_session_still_sets_no_cookie_on_visitor_pages(make_app, customer):
    """Even if some hook writes the session, flashes or sets a cookie, visitor pages answer
    without `Set-Cookie`; the login page still gets its session cookie."""
    app = make_app()

    @app.before_request
    def touch_session() -> None:
        session["touched"] = True
        flash("hello")

    @app.after_request
    def add_cookie(response):
        response.set_cookie("tracker", "1")
        return response

    visitor = CookieWatch(app)
    code = customer["ref_code"]
    assert visitor.get(f"/p/{code}?ref={code}").status_code == 200
    assert visitor.get(f"/p/{code}/danke").status_code == 200
    assert visitor.post("/api/referral/track-click", json={"ref": code}).status_code == 200
    assert visitor.get("/hub/" + "A" * 32).status_code == 404
    assert visitor.jar() == []

    login_page = app.test_client().get("/login")
    cookies = " ".join(login_page.headers.getlist("Set-Cookie"))
    assert "session=" in cookies and "tracker=" in cookies


# --- cross-site posts ------------------------------------------------------------------------


CROSS_SITE = [
    pytest.param({"Origin": EVIL}, id="foreign-origin"),
    pytest.param({"Origin": "http://localhost.evil.example"}, id="lookalike-origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": "null"}, id="fetch-metadata"),
    pytest.param({"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"}, id="same-site"),
]


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize(
    "form", ["hub-delete", "unsubscribe", "unsubscribe-delete"], ids=lambda f: f
)
def test_a_cross_site_post_to_a_visitor_form_is_refused(
    mail_app, smtp_server, customer, headers, form
):
    links = _confirmed_participant(
        mail_app, mail_app.test_client(), smtp_server, customer["ref_code"], "cara@example.org"
    )
    path, data = {
        "hub-delete": (f"{links['hub']}/delete", {}),
        "unsubscribe": (links["unsubscribe"], {"action": "unsubscribe"}),
        "unsubscribe-delete": (links["unsubscribe"], {"action": "delete"}),
    }[form]
    visitor = CookieWatch(mail_app)

    page = visitor.post(path, data=data, headers=headers)
    assert page.status_code == 400
    assert "von einer anderen Seite" in page.get_data(as_text=True)  # the program's language
    assert 'data-status="400"' in page.get_data(as_text=True)
    as_json = visitor.post(path, data=data, headers={**headers, "Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.get_json()["error"] == "csrf_failed"

    row = participant_row(mail_app, participant_id=links["id"])
    assert row is not None and row.status == "confirmed"
    assert visitor.jar() == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(SAME_ORIGIN, id="same-origin"),
        # Our secret pages send Referrer-Policy: no-referrer, so a browser may say `null`.
        pytest.param({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, id="null-origin"),
        pytest.param({"Origin": "https://referral.example"}, id="public-base-url"),
        pytest.param({}, id="no-browser-headers"),
    ],
)
def test_a_post_from_our_own_page_deletes(make_app, smtp_server, customer, headers):
    app = make_app(**smtp_server.config, PUBLIC_BASE_URL="https://referral.example")
    setup_program(app, customer["id"])
    links = _confirmed_participant(
        app, app.test_client(), smtp_server, customer["ref_code"], "dora@example.org"
    )
    visitor = CookieWatch(app)
    answer = visitor.post(f"{links['hub']}/delete", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert participant_row(app, participant_id=links["id"]) is None


def test_one_click_unsubscribe_from_a_mail_provider_works_from_anywhere(
    mail_app, smtp_server, customer
):
    """RFC 8058: the provider POSTs `List-Unsubscribe=One-Click` to the link itself."""
    links = _confirmed_participant(
        mail_app, mail_app.test_client(), smtp_server, customer["ref_code"], "emil@example.org"
    )
    visitor = CookieWatch(mail_app)
    answer = visitor.post(
        links["unsubscribe"],
        data={"List-Unsubscribe": "One-Click"},
        headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    )
    assert answer.status_code == 200
    assert participant_row(mail_app, participant_id=links["id"]).status == "unsubscribed"


def test_a_get_changes_nothing_and_confirming_needs_the_post(mail_app, smtp_server, customer):
    visitor = CookieWatch(mail_app)
    signup(mail_app.test_client(), customer["ref_code"], "finn@example.org")
    token = token_from(smtp_server.to("finn@example.org")[-1])
    for _ in range(2):
        assert visitor.get(f"/api/referral/confirm-lead?token={token}").status_code == 200
    assert participant_row(mail_app, email_hash_of="finn@example.org").status == "pending"
    assert count(mail_app, Participant, Participant.confirmed_at.is_not(None)) == 0


# --- language without a session --------------------------------------------------------------


@pytest.mark.parametrize("program_language", ["de", "en"])
def test_visitor_pages_speak_the_programs_language_not_the_sessions(
    make_app, smtp_server, customer, program_language
):
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], language=program_language)
    links = _confirmed_participant(
        app, app.test_client(), smtp_server, customer["ref_code"], "gina@example.org"
    )
    other = "en" if program_language == "de" else "de"
    code = customer["ref_code"]

    # A browser that chose the other language on the login page, and says so in its headers.
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    browser.post("/language", data={"lang": other, "csrf_token": csrf, "next": "/login"})
    assert f'lang="{other}"' in browser.get("/login").get_data(as_text=True)
    for path in (
        f"/p/{code}?ref={code}",
        f"/p/{code}/danke",
        links["hub"],
        f"{links['hub']}/delete",
        links["unsubscribe"],
    ):
        response = browser.get(path, headers={"Accept-Language": other})
        assert response.headers.getlist("Set-Cookie") == [], path
        assert f'lang="{program_language}"' in response.get_data(as_text=True), path


@pytest.mark.parametrize("program_language", ["de", "en"])
def test_the_confirmation_page_speaks_the_language_of_the_mail(
    make_app, smtp_server, customer, program_language
):
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], language=program_language)
    signup(app.test_client(), customer["ref_code"], "hanna@example.org")
    token = token_from(smtp_server.to("hanna@example.org")[-1])
    other = "en" if program_language == "de" else "de"
    page = CookieWatch(app).get(
        f"/api/referral/confirm-lead?token={token}", headers={"Accept-Language": other}
    )
    assert page.status_code == 200
    assert f'lang="{program_language}"' in page.get_data(as_text=True)


@pytest.mark.parametrize("language", ["de", "en"])
def test_pages_without_a_program_follow_accept_language(app, language):
    visitor = CookieWatch(app)
    confirm = visitor.get(
        "/api/referral/confirm-lead?token=x", headers={"Accept-Language": language}
    )
    assert f'lang="{language}"' in confirm.get_data(as_text=True)
    missing = visitor.get("/hub/" + "A" * 32, headers={"Accept-Language": language})
    assert f'lang="{language}"' in missing.get_data(as_text=True)


# --- the customer and admin areas keep their session ----------------------------------------


def test_login_still_sets_the_session_cookie_and_survives_a_visit_to_a_public_page(
    app, auth, client, customer
):
    answer = auth.login(customer["email"], customer["password"])
    assert answer.status_code == 302
    assert any(c.startswith("session=") for c in answer.headers.getlist("Set-Cookie"))
    assert client.get("/dashboard/").status_code == 200

    code = customer["ref_code"]
    public = client.get(f"/p/{code}?ref={code}")
    assert public.status_code == 200 and public.headers.getlist("Set-Cookie") == []
    assert client.get("/dashboard/").status_code == 200  # still logged in


def test_the_program_being_switched_off_still_shows_its_pages_without_a_cookie(app, customer):
    with app.app_context():
        db.session.execute(select(Customer)).scalar_one().referral_enabled = False
        db.session.commit()
    visitor = CookieWatch(app)
    code = customer["ref_code"]
    answer = visitor.get(f"/p/{code}?ref={code}")
    assert answer.status_code == 200
    assert 'data-program-active="no"' in answer.get_data(as_text=True)
    assert visitor.jar() == []


# --- a real browser: the cookie jar stays empty, Fetch Metadata works as assumed ------------


@pytest.fixture
def live_mail_url(mail_app) -> Iterator[str]:
    """The mail-sending app over HTTP on 127.0.0.1, as support_browser.live_url does."""
    with serve(mail_app) as url:
        yield url


@pytest.mark.browser
def test_in_chromium_the_journey_leaves_no_cookie_and_other_sites_cannot_delete(
    mail_app,
    smtp_server,
    customer,
    in_browser,
    live_mail_url,
    other_origin,
):
    in_browser(
        lambda browser: _chromium_journey(
            browser, mail_app, smtp_server, customer["ref_code"], live_mail_url, other_origin
        )
    )


def _chromium_journey(browser, app, smtp, code: str, base: str, other_origin) -> None:
    context, page, _errors = new_page(browser, CHROME)
    try:
        # Hosted freebie page → thank-you page → the script's sign-up form.
        page.goto(f"{base}/p/{code}")
        page.click("#freebie-form button[type=submit]")
        page.wait_for_url(f"**/p/{code}/danke?*")
        page.fill("#rf-email", "hanna@example.org")
        page.check("#rf-consent")
        page.click(".rf-submit")
        page.wait_for_selector(".rf-success")
        assert wait_until(lambda: smtp.to("hanna@example.org"))

        # The mail's link: the page asks for one click (a scanner running JavaScript must
        # not confirm), which posts the form and lands on the hub.
        token = token_from(smtp.to("hanna@example.org")[-1])
        page.goto(f"{base}/api/referral/confirm-lead?token={token}")
        assert participant_row(app, email_hash_of="hanna@example.org").status == "pending"
        page.click("#confirm-form button[type=submit]")
        page.wait_for_url("**/hub/*")
        hub_url = page.url
        assert participant_row(app, email_hash_of="hanna@example.org").status == "confirmed"

        # Another site's form posting to "delete my data" is turned away.
        origin, root = other_origin
        (root / "attack.html").write_text(
            f'<!doctype html><form method="post" action="{hub_url}/delete">'
            '<button id="go" type="submit">Win a prize</button></form>'
        )
        page.goto(f"{origin}/attack.html")
        page.click("#go")
        page.wait_for_selector('[data-status="400"]')
        assert participant_row(app, email_hash_of="hanna@example.org") is not None

        # The participant's own click on the hub's button deletes (a same-origin post from a
        # no-referrer page: Fetch Metadata says same-origin although Origin may be null).
        page.goto(hub_url)
        page.click("#my-data a.button.danger")
        page.wait_for_url("**/delete")
        page.click("#delete-confirm button.danger")
        page.wait_for_selector("#deleted")
        assert participant_row(app, email_hash_of="hanna@example.org") is None
        assert context.cookies() == []
    finally:
        context.close()
