"""The program's journey in headless Chromium at 390 and 1280 px: a new customer's checklist
blocks going live until the Impressum and privacy notice are there; she sets her logo, colour
and freebie; a visitor sees the branded freebie page and gets the file on the thank-you page;
with the program off, the pages still answer 200 with the freebie and without the sign-up.
Screenshots land in test-artifacts/."""

from __future__ import annotations

import struct
import zlib

import pytest
from playwright.sync_api import expect

from referral_app.extensions import db
from referral_app.models import Customer

from .support_browser import chromium_browser, live_url, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def open_nav(page) -> None:
    """On a phone the dashboard's navigation sits behind the menu button."""
    toggle = page.locator(".nav-toggle")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real (decodable) PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def fits(page) -> None:  # type: ignore[no-untyped-def]
    """No sideways scrolling at this width."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], (page.url, width)


@pytest.fixture
def new_program(app, customer):  # type: ignore[no-untyped-def]
    """The fixture customer as a new sign-up has it: no privacy notice, no freebie, off."""
    with app.app_context():
        row = db.session.get(Customer, customer["id"])
        row.referral_enabled, row.privacy_url = False, None
        row.freebie_title = row.freebie_url = None
        db.session.commit()
    return customer


@pytest.mark.parametrize("width", [390, 1280])
def test_a_coach_goes_live_and_her_visitor_gets_the_freebie(
    app,
    live_url,  # noqa: F811
    chromium_browser,  # noqa: F811
    new_program,
    width,
    tmp_path,
):
    size = {"width": width, "height": 900}
    coach = chromium_browser.new_context(locale="de-DE", viewport=size).new_page()
    coach.set_default_timeout(15_000)
    coach.goto(f"{live_url}/login")
    coach.fill("#email", new_program["email"])
    coach.fill("#password", new_program["password"])
    coach.click("main button[type=submit]")
    expect(coach.locator("#launch-checklist")).to_be_visible()
    expect(coach.locator('[data-step="privacy"][data-done="no"]')).to_be_visible()
    expect(coach.locator("#stats-empty")).to_be_visible()
    fits(coach)
    screenshot(coach, f"program-{width}-01-checklist")

    # Switching on is refused, saying what is missing.
    coach.click("#toggle-button")
    expect(coach.locator("#status-error")).to_contain_text("Datenschutzerklärung")
    expect(coach.locator('[data-program-state="off"]')).to_be_visible()
    screenshot(coach, f"program-{width}-02-switch-refused")

    # Company details: a wrong privacy address shows inline; then the real one, logo, colour.
    coach.click("#status-error a")
    expect(coach.locator("#company-form")).to_be_visible()
    coach.fill("#privacy_url", "http://mueller-soehne.example/datenschutz")
    coach.click("#company-form button[type=submit]")
    expect(coach.locator("#privacy_url-error")).to_be_visible()
    assert coach.locator("#privacy_url").get_attribute("aria-invalid") == "true"
    fits(coach)
    screenshot(coach, f"program-{width}-03-company-error")
    coach.fill("#privacy_url", "https://mueller-soehne.example/datenschutz")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(160, 48, (130, 80, 223)))
    coach.set_input_files("#logo", str(logo))
    coach.fill("#accent_color", "#8250df")
    coach.click("#company-form button[type=submit]")
    expect(coach.locator("#company-form .flash-success")).to_be_visible()
    expect(coach.locator("#current-logo")).to_be_visible()
    screenshot(coach, f"program-{width}-04-company-saved")

    # The freebie: a title, a text and a PDF.
    open_nav(coach)
    coach.click('nav a[href="/dashboard/freebie"]')
    expect(coach.locator("#freebie-missing")).to_be_visible()
    coach.fill("#title", "Checkliste: 10 Fragen vor dem Coaching")
    coach.fill("#description", "Zwei Seiten, die dir Klarheit geben.")
    pdf = tmp_path / "Checkliste.pdf"
    pdf.write_bytes(PDF)
    coach.set_input_files("#file", str(pdf))
    coach.click("#freebie-form button[type=submit]")
    expect(coach.locator("#freebie-form .flash-success")).to_be_visible()
    expect(coach.locator("#current-file")).to_have_text("Checkliste.pdf")
    fits(coach)
    screenshot(coach, f"program-{width}-05-freebie")

    # Now the switch works.
    open_nav(coach)
    coach.click('nav a[href="/dashboard/"]')
    coach.click("#toggle-button")
    expect(coach.locator('[data-program-state="on"]')).to_be_visible()

    # A visitor (no login, own context) on the program link.
    visitor_context = chromium_browser.new_context(locale="de-DE", viewport=size)
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(15_000)
    code = new_program["ref_code"]
    visitor.goto(f"{live_url}/p/{code}")
    expect(visitor.locator("h1")).to_have_text("Checkliste: 10 Fragen vor dem Coaching")
    logo_img = visitor.locator("header img.brand-logo")
    expect(logo_img).to_be_visible()
    assert visitor.evaluate("document.querySelector('header img.brand-logo').naturalWidth") == 160
    button = visitor.locator("#freebie-form button")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(130, 80, 223)"
    expect(visitor.locator("#privacy-link")).to_have_attribute(
        "href", "https://mueller-soehne.example/datenschutz"
    )
    fits(visitor)
    screenshot(visitor, f"program-{width}-06-visitor-freebie")
    button.click()
    expect(visitor.locator("#freebie-download")).to_be_visible()
    expect(visitor.locator("#referral-signup")).to_be_attached()
    with visitor.expect_download() as info:
        visitor.click("#freebie-download")
    download = info.value
    assert download.suggested_filename == "Checkliste.pdf"
    assert download.path().read_bytes() == PDF
    fits(visitor)
    screenshot(visitor, f"program-{width}-07-visitor-thankyou")
    assert visitor_context.cookies() == []

    # The program off: old links still show and deliver the freebie, without the sign-up.
    coach.click("#toggle-button")
    expect(coach.locator('[data-program-state="off"]')).to_be_visible()
    answer = visitor.goto(f"{live_url}/p/{code}?ref={code}")
    assert answer.status == 200
    expect(visitor.locator('#freebie[data-program-active="no"]')).to_be_visible()
    answer = visitor.goto(f"{live_url}/p/{code}/danke?ref={code}")
    assert answer.status == 200
    expect(visitor.locator("#freebie-download")).to_be_visible()
    expect(visitor.locator("#referral-signup")).to_have_count(0)
    assert visitor.locator("script[src*='referral-tracking']").count() == 0
    fits(visitor)
    screenshot(visitor, f"program-{width}-08-program-off")
    visitor.goto(f"{live_url}/p/{code}/impressum")
    expect(visitor.locator("#imprint")).to_contain_text("Hauptstraße 5")
    screenshot(visitor, f"program-{width}-09-imprint")
    visitor_context.close()
    coach.context.close()
