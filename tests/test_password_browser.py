"""The password pages in a real browser at a phone's and a desktop's width: changing the
password (reached from the navigation) with its error states, and the forgotten-password
flow from the login page through the mailed link, including a used link. Screenshots in
test-artifacts/. Locale-neutral assertions (ids and classes), since the catalogs are
merged separately."""

from __future__ import annotations

import pytest

from .support_browser import chromium_browser, screenshot, serve, wait_htmx_ready  # noqa: F401
from .support_mail import links_in, smtp_server  # noqa: F401

pytestmark = pytest.mark.browser


def log_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    wait_htmx_ready(page)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    wait_htmx_ready(page)


def submit(page) -> None:
    page.click("main button[type=submit]")
    wait_htmx_ready(page)


@pytest.mark.parametrize("width", [390, 1280])
def test_changing_the_password_shows_each_error_and_then_succeeds(
    make_app,
    chromium_browser,  # noqa: F811
    customer,
    width,
):
    app = make_app()
    page = chromium_browser.new_page(locale="de-DE", viewport={"width": width, "height": 900})
    with serve(app) as base:
        log_in(page, base, customer["email"], customer["password"])
        page.wait_for_url("**/dashboard/")
        if page.locator(".nav-toggle").is_visible():
            page.click(".nav-toggle")
        page.click("a[href='/account/password']")
        page.wait_for_url("**/account/password")
        wait_htmx_ready(page)
        page.fill("#current_password", "falsch-falsch")
        page.fill("#new_password", "ein-neues-passwort")
        page.fill("#new_password_repeat", "ein-neues-passwort")
        submit(page)
        page.locator("#current_password-error").wait_for()
        assert page.get_attribute("#current_password", "aria-invalid") == "true"
        screenshot(page, f"password-change-wrong-current-{width}")
        page.fill("#current_password", customer["password"])
        page.fill("#new_password", "ein-neues-passwort")
        page.fill("#new_password_repeat", "ein-anderes-passwort")
        submit(page)
        page.locator("#new_password_repeat-error").wait_for()
        screenshot(page, f"password-change-mismatch-{width}")
        page.fill("#current_password", customer["password"])
        page.fill("#new_password", "ein-neues-passwort")
        page.fill("#new_password_repeat", "ein-neues-passwort")
        submit(page)
        page.locator("#flash .flash-success").wait_for()
        assert page.locator(".field-error").count() == 0
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width
        screenshot(page, f"password-change-done-{width}")
    page.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_a_forgotten_password_is_reset_by_the_mailed_link_once(
    make_app,
    chromium_browser,  # noqa: F811
    smtp_server,  # noqa: F811
    customer,
    width,
):
    app = make_app(**smtp_server.config)
    page = chromium_browser.new_page(locale="de-DE", viewport={"width": width, "height": 900})
    with serve(app) as base:
        page.goto(f"{base}/login")
        wait_htmx_ready(page)
        page.click("#forgot-link")
        page.wait_for_url("**/password/forgot")
        wait_htmx_ready(page)
        page.fill("#email", customer["email"])
        submit(page)
        page.locator("#password-forgot .flash-success").wait_for()
        screenshot(page, f"password-forgot-sent-{width}")
        mail = smtp_server.to(customer["email"])[0]
        link = next(url for url in links_in(mail) if "/password/reset/" in url)
        path = link.removeprefix("http://localhost")
        page.goto(base + path)
        wait_htmx_ready(page)
        page.fill("#new_password", "kurz")
        page.fill("#new_password_repeat", "kurz")
        page.evaluate("document.querySelector('#password-reset form').noValidate = true")
        submit(page)
        page.locator("#new_password-error").wait_for()
        screenshot(page, f"password-reset-too-short-{width}")
        page.fill("#new_password", "mein-neues-passwort")
        page.fill("#new_password_repeat", "mein-neues-passwort")
        submit(page)
        page.wait_for_url("**/login")
        page.locator("#flash .flash-success").wait_for()
        page.goto(base + path)
        page.locator("#password-reset .flash-error").wait_for()
        assert page.locator("#password-reset a[href='/password/forgot']").is_visible()
        screenshot(page, f"password-reset-used-{width}")
        log_in(page, base, customer["email"], "mein-neues-passwort")
        page.wait_for_url("**/dashboard/")
    page.close()
