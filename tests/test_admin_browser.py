"""Headless Chromium against a real server: an admin logs in, drills into a customer (the
HTMX panel), filters the fraud log and downloads the export. Screenshots go to
test-artifacts/. Skipped when Playwright or /usr/bin/chromium is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from referral_app.models import STATUS_DUPLICATE

from .support_admin import live_server, run_in_chromium, world  # noqa: F401
from .support_browser import wait_htmx_ready

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="no Chromium at /usr/bin/chromium"),
]


def test_admin_drills_down_filters_the_fraud_log_and_exports(
    backend_name,
    admin,
    world,  # noqa: F811
    live_server,  # noqa: F811
):
    shop = world.customer("Müller & Söhne GmbH")
    world.clicks(shop, 40)
    world.clicks(shop, 5, status=STATUS_DUPLICATE)
    world.conversions(shop, 9)
    world.conversions(shop, 2, seconds=1.5, suspicious=True)
    world.participant(shop)
    world.fraud(shop, "fast_conversion", details={"seconds": 1.5})
    other = world.customer("Andere Agentur")
    world.fraud(other, "bot_user_agent", n=2, details={"user_agent_class": "headless"})
    world.rebuild()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = f"admin-{backend_name}"
    problems: list[str] = []

    def scenario(browser) -> None:
        context = browser.new_context(
            accept_downloads=True, locale="de-DE", viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                problems.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}")
                if response.status >= 400 and not response.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.goto(f"{live_server}/login")
        page.fill("#email", admin["email"])
        page.fill("#password", admin["password"])
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{live_server}/admin/")
        wait_htmx_ready(page)
        sync_api.expect(page.locator("#overview-totals")).to_contain_text("45")
        sync_api.expect(page.locator(".admin-chart polyline")).to_have_count(3)
        page.screenshot(path=str(ARTIFACTS / f"{shot}-overview.png"), full_page=True)

        page.click("nav a[href='/admin/customers']")
        page.wait_for_url(f"{live_server}/admin/customers")
        wait_htmx_ready(page)  # else the typing may come before htmx listens
        page.fill("#customer-q", "söhne")
        row = page.locator(f"tr[data-customer-id='{shop}']")
        sync_api.expect(page.locator("tr[data-customer-id]")).to_have_count(1)
        wait_htmx_ready(page)  # the swapped-in row's link is boosted only once settled
        row.locator("a.button").click()
        panel = page.locator("#drilldown #customer-panel")
        sync_api.expect(panel).to_be_visible()
        sync_api.expect(panel).to_contain_text("Müller & Söhne GmbH")
        sync_api.expect(panel).to_contain_text("Conversion zu schnell nach dem Klick")
        assert "/admin/customers" in page.url and f"/customers/{shop}" not in page.url
        page.screenshot(path=str(ARTIFACTS / f"{shot}-drilldown.png"), full_page=True)

        page.click("nav a[href='/admin/fraud']")
        page.wait_for_url(f"{live_server}/admin/fraud")
        wait_htmx_ready(page)
        sync_api.expect(page.locator("tr[id^='fraud-entry-']")).to_have_count(3)
        page.select_option("#filter-type", "bot_user_agent")
        page.click("#fraud-filters button[type=submit]")
        page.wait_for_url("**type=bot_user_agent**")
        wait_htmx_ready(page)
        entries = page.locator("tr[id^='fraud-entry-']")
        sync_api.expect(entries).to_have_count(2)
        sync_api.expect(entries.first).to_contain_text("headless")
        page.screenshot(path=str(ARTIFACTS / f"{shot}-fraud-log.png"), full_page=True)

        page.click("nav a[href='/admin/export']")
        page.wait_for_url(f"{live_server}/admin/export")
        wait_htmx_ready(page)
        with page.expect_download() as info:
            page.click("#export-stats button[type=submit]")
        download = info.value
        target = ARTIFACTS / f"{shot}-{download.suggested_filename}"
        download.save_as(str(target))
        text = target.read_bytes().decode("utf-8-sig")
        assert text.startswith("customer_id;company_name;")  # the German Excel default
        assert "Müller & Söhne GmbH" in text and "Andere Agentur" in text
        assert download.suggested_filename.startswith("referral-stats-")
        page.screenshot(path=str(ARTIFACTS / f"{shot}-export.png"), full_page=True)

    run_in_chromium(scenario, CHROMIUM, ARGS)
    assert problems == []
