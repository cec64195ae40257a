"""A real browser against a real server: the app served by werkzeug on 127.0.0.1 (a free
port, in a thread) and Debian's Chromium driven by Playwright. Skips cleanly where Playwright
or Chromium is missing. Screenshots go to test-artifacts/ (gitignored, kept by CI).

Use: `from .support_browser import browser_page, live_url, screenshot  # noqa: F401`

Waiting: never a fixed sleep. Playwright's `expect(...)` and `wait_for_*` wait for what the
test is about; `wait_htmx_ready(page)` waits for the page itself to be ready for the next
action (htmx loaded, no request in flight, the last swap settled). The body is boosted
(hx-boost), so a navigation is an htmx swap: the URL changes and the new elements are in the
DOM before htmx has processed them (that happens on settle, 20 ms later or much more on a
busy machine); typing into an `hx-trigger` input before then is lost.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "chromium"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@contextmanager
def serve(app) -> Iterator[str]:
    """`app` served over HTTP on 127.0.0.1 (threaded, like a real server); yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The test's app served over HTTP on 127.0.0.1."""
    with serve(app) as url:
        yield url


def thread_runner(*extra_args: str):
    """`run(scenario)`: `scenario(browser)` with a Chromium of its own, in a thread of its own
    (Playwright's sync API refuses to start where an asyncio loop runs, and other tests, SMTP
    servers or async clients, may leave one in the main thread); its failure re-raised here.
    Skips the test without Playwright or Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")

    def run(scenario) -> None:
        failure: list[BaseException] = []

        def target() -> None:
            try:
                with sync_api.sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=path, args=[*CHROMIUM_ARGS, *extra_args]
                    )
                    try:
                        scenario(browser)
                    finally:
                        browser.close()
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                failure.append(exc)

        thread = threading.Thread(target=target, name="browser")
        thread.start()
        thread.join(timeout=180)
        assert not thread.is_alive(), "the browser scenario hung"
        if failure:
            raise failure[0]

    return run


def poll(check, timeout: float = 15.0):
    """`check()`'s value once it is truthy, or its last value at the deadline: for what a
    browser sends on its own (a beacon) and no page can signal."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def chromium_browser():
    """Per test, not per session: a Playwright still running would make any other module's
    own `sync_playwright()` fail ("Sync API inside the asyncio loop")."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    """A fresh browser context (no cookies) with a German phone-sized-or-larger window."""
    context = chromium_browser.new_context(locale="de-DE", viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


# htmx marks what it is busy with: `htmx-request` on the element (or its indicator) while a
# request is in flight, `htmx-swapping` on the target until the swap, `htmx-settling` on it
# and `htmx-added` on each new element until the settle, which is when htmx has processed
# them (their hx-* attributes are live).
HTMX_IDLE = """() => document.readyState === "complete"
    && !!window.htmx
    && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")"""


def wait_htmx_ready(page) -> None:
    """Wait until htmx is loaded and idle: no request in flight, the last swap settled."""
    page.wait_for_function(HTMX_IDLE)


def screenshot(page, name: str) -> Path:
    """Keep what the browser showed, as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
