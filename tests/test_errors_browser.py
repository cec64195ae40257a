"""Every form shows its error in a real browser (issue: htmx 2 swaps no 4xx answer unless
told, so a wrong password, a throttled login or a bad filter left the page sitting still).
At a phone's and a desktop's width; screenshots in test-artifacts/."""

from __future__ import annotations

import pytest

from .support_browser import (  # noqa: F401
    browser_page,
    chromium_browser,
    screenshot,
    serve,
    wait_htmx_ready,
)
from .support_participants import setup_program

pytestmark = pytest.mark.browser


@pytest.fixture
def limited_app(make_app):
    return make_app(
        RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_LOGIN="3/minute"
    )


def log_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    wait_htmx_ready(page)
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    wait_htmx_ready(page)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_wrong_password_and_then_too_many_tries_show_their_message(
    limited_app,
    chromium_browser,
    customer,
    width,  # noqa: F811
):
    page = chromium_browser.new_page(locale="de-DE", viewport={"width": width, "height": 900})
    with serve(limited_app) as base:
        log_in(page, base, customer["email"], "falsch-falsch")
        alert = page.locator("main .flash-error")
        alert.wait_for()
        assert "Passwort" in alert.inner_text()
        assert page.input_value("#email") == customer["email"]  # what she typed stays
        screenshot(page, f"errors-login-wrong-{width}")
        for _ in range(3):
            page.fill("#password", "falsch-falsch")
            page.click("main button[type=submit]")
            wait_htmx_ready(page)
        page.locator("main .flash-error", has_text="Zu viele").wait_for()
        screenshot(page, f"errors-login-throttled-{width}")
    page.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_the_admins_filters_show_bad_input(make_app, chromium_browser, admin, width):  # noqa: F811
    app = make_app()
    page = chromium_browser.new_page(locale="de-DE", viewport={"width": width, "height": 900})
    with serve(app) as base:
        log_in(page, base, admin["email"], admin["password"])
        page.goto(f"{base}/admin/fraud")
        wait_htmx_ready(page)
        page.fill("#filter-customer", "abc")
        page.click("#fraud-filters button[type=submit]")
        wait_htmx_ready(page)
        page.locator("#error-customer").wait_for()
        page.goto(f"{base}/admin/fraud?until=9999-12-31")  # was a 500 (OverflowError)
        page.locator("#fraud-filters .field-error").first.wait_for()
        screenshot(page, f"errors-fraud-filter-{width}")

        page.goto(f"{base}/admin/backtest")
        wait_htmx_ready(page)
        page.select_option("#backtest-rule", index=1)
        page.fill("#backtest-threshold", "viele")
        page.click("#backtest-form button[type=submit]")
        wait_htmx_ready(page)
        page.locator("#backtest-form .field-error").first.wait_for()
        screenshot(page, f"errors-backtest-{width}")
    page.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_moving_a_reward_asks_first_and_says_what_changed(
    make_app,
    chromium_browser,
    customer,
    width,  # noqa: F811
):
    """↑/↓ changes which reward needs how many referrals: it must never happen silently."""
    app = make_app()
    setup_program(app, customer["id"])  # Checkliste 3, Workbook 5, Coaching 10
    page = chromium_browser.new_page(locale="de-DE", viewport={"width": width, "height": 900})
    asked: list[str] = []
    with serve(app) as base:
        log_in(page, base, customer["email"], customer["password"])
        page.goto(f"{base}/dashboard/rewards")
        wait_htmx_ready(page)
        down = page.locator("li.milestone").first.locator("form").nth(1).locator("button")

        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        down.click()
        wait_htmx_ready(page)
        assert "ab 5 Empfehlungen" in asked[0] and "„Checkliste“" in asked[0]
        assert "Checkliste" in page.locator("li.milestone").first.inner_text()  # unchanged

        page.once("dialog", lambda dialog: dialog.accept())
        down.click()
        page.locator("#reward-editor .flash-success").wait_for()
        assert "„Checkliste“ gibt es jetzt ab 5 Empfehlungen" in page.inner_text("#reward-editor")
        assert "Workbook" in page.locator("li.milestone").first.inner_text()
        screenshot(page, f"errors-reward-moved-{width}")
    page.close()
