"""The dashboard in headless Chromium, over real HTTP: log in, switch the program, edit the
company details and watch the mail preview follow, track a click through the public API and
watch the live panel count it without a reload. Screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import urllib.request

import pytest

from .support_browser import (  # noqa: F401
    browser_page,
    chromium_browser,
    live_url,
    screenshot,
    wait_htmx_ready,
)

pytestmark = pytest.mark.browser

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def track_click(base: str, ref: str) -> dict:
    """A visitor's click, sent to the public API as referral-tracking.js sends it."""
    request = urllib.request.Request(
        f"{base}/api/referral/track-click",
        data=json.dumps({"ref": ref, "page": "https://kunde.example/freebie"}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": BROWSER_UA},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_customer_runs_the_program_live_in_a_browser(live_url, browser_page, customer):  # noqa: F811
    page = browser_page
    page.goto(f"{live_url}/login")
    page.fill("#email", customer["email"])
    page.fill("#password", customer["password"])
    page.click("main button[type=submit]")
    page.wait_for_selector("#stats-panel")
    wait_htmx_ready(page)
    assert page.url == f"{live_url}/dashboard/"
    assert page.locator("html").get_attribute("lang") == "de"
    screenshot(page, "customer-01-overview")

    # Toggle off and on again: the badge shows what the server answered.
    page.click("#toggle-button")
    page.wait_for_selector('[data-program-state="off"]')
    wait_htmx_ready(page)
    screenshot(page, "customer-02-program-off")
    page.click("#toggle-button")
    page.wait_for_selector('[data-program-state="on"]')
    wait_htmx_ready(page)

    # Company details: the preview follows the typing before anything is saved.
    page.click('nav a[href="/dashboard/company"]')
    page.wait_for_selector("#company-form")
    wait_htmx_ready(page)  # else the first keys may come before htmx listens
    page.fill("#imprint", "")
    page.locator("#imprint").press_sequentially("Browser-Impressum 42")
    page.wait_for_selector("#mail-preview :text('Browser-Impressum 42')")
    screenshot(page, "customer-03-mail-preview")
    page.fill("#contact_email", "kein-at-zeichen")
    page.click("#company-form button[type=submit]")
    page.wait_for_selector("#contact_email-error")
    wait_htmx_ready(page)
    assert page.locator("#contact_email").get_attribute("aria-invalid") == "true"
    screenshot(page, "customer-04-inline-error")
    page.fill("#contact_email", "info@mueller.example")
    page.click("#company-form button[type=submit]")
    page.wait_for_selector("#company-form .flash-success")
    wait_htmx_ready(page)

    # The live panel: a click through the public API shows up without a reload.
    page.click('nav a[href="/dashboard/"]')
    wait_htmx_ready(page)
    page.wait_for_selector("#stats-panel #stats-empty")  # no page of zeros
    page.evaluate("window.__noReload = true")
    outcome = track_click(live_url, customer["ref_code"])
    assert outcome["ok"] is True and outcome["status"] == "tracked", outcome
    page.wait_for_selector('#stats-panel [data-stat="clicks"][data-value="1"]', timeout=30_000)
    assert page.evaluate("window.__noReload") is True
    screenshot(page, "customer-05-live-click")

    # Usable on a phone: the overview fits a narrow screen without sideways scrolling.
    page.set_viewport_size({"width": 375, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    screenshot(page, "customer-06-phone")
