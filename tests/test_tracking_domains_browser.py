"""Allowed domains in a real browser (headless Chromium): the tracking script and the pixel on
the customer's own site count, the same page on a foreign site does not, and our hosted pages
still count. Chromium resolves two made-up names to one loopback server (host resolver
rules), so Origin and Referer carry real host names, with a port, as on the web. The company
page's notice about an empty list at 390 and 1280 px."""

from __future__ import annotations

import functools
import http.server
import threading
import time

import pytest

from referral_app.extensions import db
from referral_app.models import Customer, FraudLogEntry
from referral_app.tracking.owners import forget_cached_codes

from .support_browser import (  # noqa: F401
    ARTIFACTS,
    browser_page,
    chromium_browser,
    live_url,
    poll,
    screenshot,
    thread_runner,
    wait_htmx_ready,
)
from .support_tracking import CHROME, EDGE, FIREFOX, SAFARI, event_rows, free_port

pytestmark = pytest.mark.browser

OWN_SITE = "shop.example.test"
FOREIGN_SITE = "evil.test"


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """No access log: it would hold client IPs."""


@pytest.fixture
def sites_server(tmp_path):
    """One static server on 127.0.0.2 that the browser reaches as both site names."""
    handler = functools.partial(QuietFiles, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.2", free_port("127.0.0.2")), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, tmp_path
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def in_browser():
    """Run `scenario(browser)` in a thread with its own Chromium (Playwright's sync API
    refuses a thread with an asyncio loop), the two site names mapped to 127.0.0.2."""
    return thread_runner(
        f"--host-resolver-rules=MAP {OWN_SITE} 127.0.0.2, MAP {FOREIGN_SITE} 127.0.0.2"
    )


def wait_for_rows(app, n: int, timeout: float = 15.0) -> list[dict]:
    """Poll the database until the browser's n-th conversion has arrived."""
    poll(lambda: len(event_rows(app, "Conversion")) >= n, timeout)
    return event_rows(app, "Conversion")


def visit(browser, url: str, user_agent: str, shot: str) -> None:
    """Open `url` as a fresh visitor (an ordinary browser's user agent: headless Chromium
    announces itself, which the bot rule blocks) and keep a screenshot."""
    context = browser.new_context(locale="de-DE", user_agent=user_agent)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_load_state("load")
        screenshot(page, shot)
    finally:
        context.close()


def test_the_script_and_the_pixel_count_on_the_own_site_only(
    app,
    customer,
    in_browser,
    live_url,  # noqa: F811
    sites_server,
):
    port, root = sites_server
    with app.app_context():
        db.session.get(Customer, customer["id"]).allowed_domains = ["example.test"]
        db.session.commit()
    forget_cached_codes()
    code = customer["ref_code"]
    (root / "thanks.html").write_text(
        "<!doctype html><html><head><title>Danke</title></head><body><h1>Danke!</h1>"
        f'<script src="{live_url}/static/referral-tracking.js" data-page="thankyou" async>'
        "</script></body></html>"
    )
    # the pixel as the dashboard's embed page gives it, on a page that sends no referrer
    (root / "pixel.html").write_text(
        '<!doctype html><html><head><meta name="referrer" content="no-referrer">'
        "<title>Danke</title></head><body><h1>Danke!</h1>"
        f'<img src="{live_url}/api/referral/track?ref={code}&amp;e=conversion" alt="" '
        'width="1" height="1" referrerpolicy="strict-origin-when-cross-origin"></body></html>'
    )
    own, foreign = f"http://{OWN_SITE}:{port}", f"http://{FOREIGN_SITE}:{port}"

    def scenario(browser) -> None:
        visit(browser, f"{foreign}/thanks.html?ref={code}", CHROME, "domains-foreign-script")
        assert len(wait_for_rows(app, 1)) == 1
        visit(browser, f"{own}/thanks.html?ref={code}", CHROME, "domains-own-script")
        assert len(wait_for_rows(app, 2)) == 2
        visit(browser, f"{foreign}/pixel.html", FIREFOX, "domains-foreign-pixel")
        assert len(wait_for_rows(app, 3)) == 3
        visit(browser, f"{own}/pixel.html", FIREFOX, "domains-own-pixel")
        assert len(wait_for_rows(app, 4)) == 4
        # our hosted thank-you page counts whatever the list says
        visit(browser, f"{live_url}/p/{code}/danke?ref={code}", SAFARI, "domains-hosted")
        assert len(wait_for_rows(app, 5)) == 5
        visit(browser, f"{live_url}/p/{code}/danke?ref={code}", EDGE, "domains-hosted-2")
        assert len(wait_for_rows(app, 6)) == 6

    in_browser(scenario)
    rows = event_rows(app, "Conversion")
    assert [(r["status"], r["reasons"][-1:]) for r in rows] == [
        ("blocked", ["foreign_site"]),
        ("tracked", ["no_prior_click"]),
        ("blocked", ["foreign_site"]),
        ("tracked", ["no_prior_click"]),
        ("tracked", ["no_prior_click"]),
        ("tracked", ["no_prior_click"]),
    ]
    with app.app_context():
        details = [
            entry.details
            for entry in db.session.query(FraudLogEntry).filter_by(type="foreign_site")
        ]
    # the browser sends the host with its port; the log keeps the host alone
    assert details == [{"host": FOREIGN_SITE}, {"host": FOREIGN_SITE}]


def shot(page, name: str) -> None:
    """The whole page, and the allowed-domains part alone (easier to look at)."""
    screenshot(page, name)
    page.locator("#allowed-domains").screenshot(path=str(ARTIFACTS / f"{name}-part.png"))


@pytest.mark.parametrize("width", [390, 1280])
def test_the_company_page_warns_while_no_domain_is_set(
    app,
    customer,
    live_url,  # noqa: F811
    browser_page,  # noqa: F811
    width,
):
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_url}/login")
    page.fill("#email", customer["email"])
    page.fill("#password", customer["password"])
    page.click("main button[type=submit]")
    page.wait_for_selector("#stats-panel")
    page.goto(f"{live_url}/dashboard/company")
    wait_htmx_ready(page)
    notice = page.locator("#allowed_domains-notice")
    assert notice.is_visible()
    box = notice.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"company-domains-empty-{width}")

    # garbage: a field error, the typed text kept, nothing saved
    page.fill("#allowed_domains", "example.de\nkein host!")
    page.click("#company-form button[type=submit]")
    page.wait_for_selector("#allowed_domains-error")
    wait_htmx_ready(page)
    assert page.locator("#allowed_domains").get_attribute("aria-invalid") == "true"
    assert "kein host!" in page.locator("#allowed_domains").input_value()
    shot(page, f"company-domains-error-{width}")

    # a pasted address is saved as its host name, and the notice goes
    page.fill("#allowed_domains", "https://www.example.de/danke")
    page.click("#company-form button[type=submit]")
    page.wait_for_selector("#company-form .flash-success")
    wait_htmx_ready(page)
    assert page.locator("#allowed_domains").input_value() == "www.example.de"
    assert page.locator("#allowed_domains-notice").count() == 0
    shot(page, f"company-domains-saved-{width}")
