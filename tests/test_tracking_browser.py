"""The tracking script in a real browser (headless Chromium through Playwright): the hosted
pages, and the script embedded in a page of another origin."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support_browser import live_url, poll, screenshot, thread_runner  # noqa: F401
from .support_tracking import (
    CHROME,
    FIREFOX,
    add_customer,
    add_participant,
    counters,
    event_rows,
    free_port,
    fresh_salts,  # noqa: F401
)

pytestmark = pytest.mark.browser


@pytest.fixture
def in_browser():
    """Run `scenario(browser)` with a Chromium of its own, in a thread of its own: Playwright's
    sync API refuses to start where an asyncio loop runs, and other tests (SMTP servers,
    async clients) may leave one in the main thread."""
    return thread_runner()


def wait_until(check, timeout: float = 15.0):
    """Poll the database until the browser's beacon has arrived."""
    return poll(check, timeout)


def new_page(browser, user_agent: str):
    """A fresh context with an ordinary browser's user agent: headless Chromium announces
    itself as HeadlessChrome, which the bot rule rightly blocks."""
    context = browser.new_context(locale="de-DE", user_agent=user_agent)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    return context, page, errors


@pytest.fixture
def other_origin(tmp_path) -> Iterator[tuple[str, Path]]:
    """A plain static web server on another loopback address: a customer's own website."""
    handler = functools.partial(QuietFiles, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.2", free_port("127.0.0.2")), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_port}", tmp_path
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """No access log: it would hold client IPs."""


def test_hosted_pages_record_one_click_and_one_conversion(
    app,
    customer,
    in_browser,
    live_url,  # noqa: F811
):
    participant = add_participant(app, customer["id"])
    in_browser(lambda browser: _hosted_pages(browser, app, customer, participant, live_url))


def _hosted_pages(browser, app, customer, participant, base: str) -> None:
    context, page, errors = new_page(browser, CHROME)
    try:
        page.goto(f"{base}/p/{customer['ref_code']}?ref={participant['ref_code']}")
        # the script carries the click id into the opt-in form once the click is answered
        page.wait_for_selector("#freebie-form input[name=click_id]", state="attached")
        clicks = wait_until(lambda: event_rows(app, "Click"))
        assert [(c["status"], c["ref_code"]) for c in clicks] == [
            ("tracked", participant["ref_code"])
        ]
        screenshot(page, "tracking-hosted-freebie")

        page.click("#freebie-form button[type=submit]")
        page.wait_for_url(f"**/p/{customer['ref_code']}/danke?*")
        assert f"ref={participant['ref_code']}" in page.url
        assert f"click_id={clicks[0]['id']}" in page.url
        conversions = wait_until(lambda: event_rows(app, "Conversion"))
        screenshot(page, "tracking-hosted-thankyou")
    finally:
        context.close()
    assert len(conversions) == 1
    assert conversions[0]["status"] == "tracked"
    assert conversions[0]["click_id"] == clicks[0]["id"]
    totals = counters(app, customer["id"])
    assert (totals["unique_clicks"], totals["conversions"]) == (1, 1)
    assert not [e for e in errors if "referral" in e.lower() or "Content Security" in e], errors


def test_script_from_another_origin_tracks_and_carries_the_click(
    app,
    customer,
    in_browser,
    live_url,  # noqa: F811
    other_origin,
):
    in_browser(lambda browser: _other_origin(browser, app, live_url, other_origin))


def _other_origin(browser, app, base: str, other_origin) -> None:
    origin, root = other_origin
    program = add_customer(app, "website@example.com")
    script = f"{base}/static/referral-tracking.js"
    (root / "freebie.html").write_text(
        "<!doctype html><html><head><title>Freebie</title></head><body>"
        "<h1>Mein Freebie</h1>"
        '<a id="next" href="thanks.html">Weiter zum Download</a>'
        f'<script src="{script}" data-page="freebie" async></script>'
        "</body></html>"
    )
    (root / "thanks.html").write_text(
        "<!doctype html><html><head><title>Danke</title></head><body>"
        "<h1>Danke!</h1>"
        f'<script src="{script}" data-page="thankyou" async></script>'
        "</body></html>"
    )
    context, page, errors = new_page(browser, FIREFOX)
    try:
        page.goto(f"{origin}/freebie.html?ref={program['ref_code']}")
        # the answer is readable across origins (CORS): its click id lands in the link
        page.wait_for_function("document.getElementById('next').href.includes('click_id=')")
        clicks = wait_until(lambda: event_rows(app, "Click"))
        assert [(c["status"], c["customer_id"]) for c in clicks] == [("tracked", program["id"])]
        assert clicks[0]["page"] == f"{origin}/freebie.html"
        screenshot(page, "tracking-other-origin-freebie")
        page.click("#next")
        page.wait_for_url("**/thanks.html?*")
        conversions = wait_until(lambda: event_rows(app, "Conversion"))
        screenshot(page, "tracking-other-origin-thankyou")
    finally:
        context.close()
    assert [(c["status"], c["click_id"]) for c in conversions] == [("tracked", clicks[0]["id"])]
    assert counters(app, program["id"])["conversions"] == 1
    assert not [e for e in errors if "CORS" in e or "referral" in e.lower()], errors
