"""The sign-up form (referral-tracking.js + static/css/signup.css) in Chromium at 390 px and
1280 px: it looks like a product (a large button, the consent text in normal weight beside
its checkbox, the company named once), speaks the program's language whatever the browser's,
shows each field's error beside the field and a message for 429 and network failures, links
the Impressum and privacy notice when the program has them, and keeps its look on a
customer's page whose CSS fights it. Screenshots: test-artifacts/signup-*.png."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import OutgoingMail, Participant

from .support_browser import chromium_browser, live_url, screenshot, serve  # noqa: F401
from .support_participants import setup_program

pytestmark = pytest.mark.browser

HOSTILE_PAGE = """<!doctype html><html lang="de"><head><title>Danke</title><style>
body { font: bold 11px/1 Georgia, serif; }
label, span, p { font-weight: bold; }
button { all: unset; font-size: 9px; }
input { width: 60px; }
form { display: inline; }
</style></head><body><h1>Danke für deinen Download!</h1>
<script src="%s/static/referral-tracking.js" data-page="thankyou" data-ref="%s" async></script>
</body></html>"""


def _new_page(browser, width: int = 390):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    csp: list[str] = []
    page.on(
        "console",
        lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return context, page, csp


def _looks(page) -> dict:  # type: ignore[no-untyped-def]
    return page.evaluate(
        """() => {
        const box = document.getElementById('rf-signup'), q = s => box.querySelector(s),
          btn = q('.rf-submit').getBoundingClientRect(),
          cb = q('#rf-consent').getBoundingClientRect(),
          text = q('.rf-consent-text'), line = text.getBoundingClientRect(),
          input = q('#rf-email').getBoundingClientRect();
        return { button_height: btn.height, button_width: btn.width, input_width: input.width,
          box_width: box.getBoundingClientRect().width,
          consent_weight: getComputedStyle(text).fontWeight,
          checkbox_offset: Math.abs(cb.top - line.top),
          checkbox_left_of_text: cb.right <= line.left,
          lang: box.lang, text: box.innerText,
          overflow: document.documentElement.scrollWidth - innerWidth };
        }"""
    )


def _assert_product_look(looks: dict, company: str) -> None:
    assert looks["button_height"] >= 48, looks
    assert looks["consent_weight"] == "400", looks
    assert looks["checkbox_offset"] < 8 and looks["checkbox_left_of_text"], looks
    assert looks["text"].count(company) == 1, looks["text"]
    assert looks["input_width"] >= looks["box_width"] - 2, looks
    assert looks["overflow"] <= 0, looks


def test_hosted_form_shows_every_state_in_german(app, customer, live_url, chromium_browser):  # noqa: F811
    setup_program(app, customer["id"])
    code = customer["ref_code"]
    for width in (390, 1280):
        context, page, csp = _new_page(chromium_browser, width)
        try:
            page.goto(f"{live_url}/p/{code}/danke?ref={code}")
            button = page.locator("#rf-signup .rf-submit")
            button.wait_for()
            assert button.inner_text() == "Jetzt mitmachen"
            _assert_product_look(_looks(page), "Müller & Söhne GmbH")
            screenshot(page, f"signup-de-empty-{width}")
            if width == 1280:
                continue

            # Nothing filled in: each field says what is missing, beside the field.
            button.click()
            email_error = page.locator("#rf-email-error")
            assert email_error.inner_text() == "Bitte gib eine gültige E-Mail-Adresse ein."
            consent_error = page.locator("#rf-consent-error")
            assert consent_error.inner_text() == "Bitte stimme der Teilnahme zu."
            assert page.locator("#rf-email").get_attribute("aria-invalid") == "true"
            assert page.locator("#rf-email").get_attribute("aria-describedby") == "rf-email-error"
            assert page.evaluate("document.activeElement.id") == "rf-email"
            screenshot(page, "signup-de-field-errors-390")

            # The server refuses the address (a disposable mailbox): the message is the
            # server's, in German, beside the e-mail field.
            page.fill("#rf-email", "wegwerf@mailinator.com")
            page.check("#rf-consent")
            button.click()
            page.locator("#rf-email-error:not([hidden])").wait_for()
            assert "Wegwerf" in email_error.inner_text() or "wegwerf" in email_error.inner_text()
            assert page.locator("#rf-consent-error").is_hidden()

            # Rate limited, then offline: a visible message under the button each time.
            page.fill("#rf-email", "lena@example.org")
            page.route(
                "**/api/referral/register-lead",
                lambda route: route.fulfill(
                    status=429,
                    content_type="application/json",
                    body=json.dumps({"ok": False, "error": "rate_limited", "message": "x"}),
                ),
            )
            button.click()
            status = page.locator("#rf-signup .rf-status.rf-error")
            status.wait_for()
            assert status.inner_text().startswith("Zu viele Versuche"), status.inner_text()
            assert email_error.is_hidden()
            screenshot(page, "signup-de-rate-limited-390")
            page.unroute("**/api/referral/register-lead")
            page.route("**/api/referral/register-lead", lambda route: route.abort())
            button.click()
            page.wait_for_function(
                "document.querySelector('#rf-signup .rf-status')"
                ".textContent.startsWith('Keine Verbindung')"
            )
            assert button.is_enabled() and button.inner_text() == "Jetzt mitmachen"
            page.unroute("**/api/referral/register-lead")

            # And through: the form gives way to the success message, the sign-up is stored.
            button.click()
            success = page.locator("#rf-signup .rf-success")
            success.wait_for()
            assert success.inner_text().startswith("Fast geschafft!")
            assert page.locator("#rf-signup form").count() == 0
            screenshot(page, "signup-de-success-390")
            assert not csp, csp
        finally:
            context.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Participant)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 1


def test_english_program_form_is_english_with_its_links_and_colour(
    app,
    customer,
    live_url,
    chromium_browser,  # noqa: F811
):
    setup_program(app, customer["id"], language="en")
    code = customer["ref_code"]
    context, page, csp = _new_page(chromium_browser)  # the browser asks for German

    def with_details(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch()
        answer = response.json()
        answer.update(
            imprint_url="https://mueller.example/impressum",
            privacy_url="https://mueller.example/datenschutz",
            accent_color="#7a1fa2",
        )
        route.fulfill(response=response, json=answer)

    try:
        page.route("**/api/referral/program?*", with_details)
        page.goto(f"{live_url}/p/{code}/danke?ref={code}")
        button = page.locator("#rf-signup .rf-submit")
        button.wait_for()
        looks = _looks(page)
        assert looks["lang"] == "en"
        assert button.inner_text() == "Join now"
        assert page.locator("label[for=rf-email]").inner_text() == "Email"
        assert "Yes, I want to join the referral program" in looks["text"]
        links = page.locator("#rf-signup .rf-legal a")
        assert links.all_inner_texts() == ["Legal notice", "Privacy policy"]
        assert links.nth(1).get_attribute("href") == "https://mueller.example/datenschutz"
        background = button.evaluate("b => getComputedStyle(b).backgroundColor")
        assert background == "rgb(122, 31, 162)"
        button.click()
        assert page.locator("#rf-email-error").inner_text() == "Please enter a valid email address."
        screenshot(page, "signup-en-errors-390")
        assert not csp, csp
    finally:
        context.close()


def test_form_keeps_its_look_on_a_customer_page_with_its_own_css(
    app,
    customer,
    live_url,
    chromium_browser,  # noqa: F811
):
    setup_program(app, customer["id"])
    context, page, _csp = _new_page(chromium_browser)

    def without_links(route) -> None:  # type: ignore[no-untyped-def]
        response = route.fetch()
        answer = response.json()
        answer.update(imprint_url="javascript:alert(1)", privacy_url="https://ok.example/ds")
        route.fulfill(response=response, json=answer)

    try:
        page.route("**/api/referral/program?*", without_links)
        html = (HOSTILE_PAGE % (live_url, customer["ref_code"])).encode()

        def website(environ, start_response):  # type: ignore[no-untyped-def]
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [html]

        with serve(website) as origin:  # the customer's own site: another origin
            page.goto(f"{origin}/danke")
            page.locator("#rf-signup .rf-submit").wait_for()
        _assert_product_look(_looks(page), "Müller & Söhne GmbH")
        assert page.locator("#rf-signup .rf-legal a").all_inner_texts() == ["Datenschutzerklärung"]
        assert page.locator("link[data-rf-css]").count() == 1
        assert page.evaluate("localStorage.length") == 0
        screenshot(page, "signup-foreign-page-390")
    finally:
        context.close()


def test_a_refused_name_shows_its_message_beside_the_name_field(
    app,
    customer,
    live_url,
    chromium_browser,  # noqa: F811
):
    """A name with a web address (spam in the greeting) is refused by the server; the form
    says so beside the name field, at phone and desktop width, and nothing is stored."""
    setup_program(app, customer["id"])
    code = customer["ref_code"]
    for width in (390, 1280):
        context, page, csp = _new_page(chromium_browser, width)
        try:
            page.goto(f"{live_url}/p/{code}/danke?ref={code}")
            button = page.locator("#rf-signup .rf-submit")
            button.wait_for()
            page.fill("#rf-email", "lena@example.org")
            page.fill("#rf-name", "Gewinn unter https://gewinn.example")
            page.check("#rf-consent")
            button.click()
            name_error = page.locator("#rf-name-error:not([hidden])")
            name_error.wait_for()
            assert name_error.inner_text().strip()
            assert page.locator("#rf-name").get_attribute("aria-invalid") == "true"
            assert page.evaluate("document.activeElement.id") == "rf-name"
            assert page.locator("#rf-email-error").is_hidden()
            box = name_error.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            screenshot(page, f"signup-name-refused-{width}")
            assert not csp, csp
        finally:
            context.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Participant)) == 0
