"""Every page of the app in Debian's Chromium at 390 px and 1280 px: a screenshot of each in
test-artifacts/<page>-<width>.png, no page wider than the window (no sideways scrolling), no
serious or critical axe-core violation, no CSP violation in the console.

axe-core comes from node_modules (`make dev` runs `npm install` where npm exists; nothing
from a CDN). Without it the tests fail with a message saying so when CI is set, and skip
otherwise (a developer machine without node still runs the rest of the suite).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from referral_app.accounts import passwords
from referral_app.accounts import users as accounts
from referral_app.core import crypto
from referral_app.extensions import db
from referral_app.models import Customer, Participant, utcnow
from referral_app.participants import links
from referral_app.rewards import codes as reward_codes
from referral_app.rewards import milestones
from referral_app.webhooks import deliveries, endpoints

from .support_admin import World
from .support_browser import ARTIFACTS, chromium_browser, serve  # noqa: F401
from .support_customer import add_click, add_conversion, add_participant
from .support_participants import setup_program

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1280)
LONG_NAME = ("Maximiliane-Theodora Leutheusser-Schnarrenberger-Wolkenkuckucksheim " * 2)[
    :100
]  # the limit
LONG_EMAIL = (
    "sehr.lange.adresse.einer.teilnehmerin.mit.vielen.punkten@unterdomain.beispiel-firma.example"
)
LONG_KEY_NAME = ("Zapier-Integration-fuer-den-Newsletter-und-das-CRM-System-der-Firma-" * 2)[:100]
AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => `${v.impact} ${v.id}: ${v.help} -> `
    + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))"""

CLIPPED = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => `${w.scrollWidth} > ${w.clientWidth}`)"""


@dataclass
class Seed:
    customer: dict
    admin: dict
    pages: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


@pytest.fixture
def axe_source() -> Path:
    if not AXE.exists():
        message = "axe-core is missing: run `make dev` (it runs `npm install` when npm exists)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE


def _seed(app) -> Seed:
    """A customer with everything a page can show (long names included), a second one for
    the admin lists, and an admin."""
    world = World(app)
    with app.app_context():
        customer, user = accounts.create_customer(
            "kunde@example.com", "kunden-passwort", "Müller & Söhne Coaching GmbH"
        )
        customer.referral_enabled = True
        customer.freebie_title = "Checkliste: 10 Fragen vor dem Coaching"
        customer.freebie_url = "https://mueller-soehne.example/checkliste"
        customer.privacy_url = "https://mueller-soehne.example/datenschutz"
        db.session.commit()
        ids = {"id": customer.id, "code": customer.ref_code, "user_id": user.id}
        accounts.create_api_key(user, LONG_KEY_NAME)
        accounts.create_api_key(user, "Website")
        admin_id = accounts.create_admin("chefin@example.com", "admin-passwort").id
    setup_program(app, ids["id"])
    with app.app_context():  # one reward of each kind: a code bank, a file, cash, an approval
        bank = milestones.create_milestone(
            ids["id"],
            {"threshold": 1, "tier": "Start", "title": "Willkommensgutschein", "kind": "code"}
            | {"hold_days": 0, "manual_approval": True},
        )
        reward_codes.add_codes(bank, ["WILLKOMMEN-2026-A", "WILLKOMMEN-2026-B"])
        milestones.create_milestone(
            ids["id"],
            {"threshold": 2, "tier": "Extra", "title": "Bonus-Kapitel", "kind": "download"},
        )
        milestones.create_milestone(
            ids["id"],
            {"threshold": 20, "tier": "Platin", "title": "Prämie", "kind": "cash"}
            | {"amount": "25,00", "hold_days": 30},
        )
    english_id = world.customer("Smith Consulting Ltd")
    setup_program(app, english_id, language="en")
    world.customer("Ein sehr langer Firmenname für Coaching, Beratung und Training GmbH & Co. KG")
    referrer = add_participant(app, ids["id"], LONG_EMAIL, name=LONG_NAME)
    add_participant(app, ids["id"], "anna@example.org", name="Anna")
    pending = add_participant(app, ids["id"], "bernd@example.org", status="pending")
    for reason in ("ip_daily_limit", "duplicate", "bot_user_agent"):
        add_click(app, ids["id"], ids["code"], status="blocked", reason=reason)
    add_click(app, ids["id"], ids["code"], participant_id=referrer["id"])
    add_conversion(app, ids["id"], ids["code"], participant_id=referrer["id"])
    add_conversion(
        app, ids["id"], ids["code"], suspicious=True, reasons=["fast_conversion", "no_prior_click"]
    )
    world.fraud(ids["id"], "fast_conversion", details={"rule": "fast_conversion", "seconds": 1.2})
    world.fraud(ids["id"], "click_rate_limit", n=3)
    world.rebuild()
    with app.app_context():
        person = db.session.get(Participant, referrer["id"])
        hub = links.hub_token(person)
        person.hub_token_hash = crypto.token_hash(hub)
        unsubscribe = links.unsubscribe_token(person)
        waiting = db.session.get(Participant, pending["id"])
        links.issue_confirm_token(waiting, utcnow())
        db.session.commit()
        confirm = links.confirm_token(waiting)
        endpoint, _secret = endpoints.create_endpoint(
            ids["id"], "http://127.0.0.1:9/ein/sehr/langer/pfad/zum/empfaenger/webhook", ["click"]
        )
        deliveries.send_test(ids["id"], endpoint.id)
        english_code = db.session.get(Customer, english_id).ref_code
        hook = endpoint.id
        _reset_id, reset = passwords.request_reset("kunde@example.com")
        db.session.commit()
    code, pid = ids["code"], referrer["id"]
    seed = Seed(
        customer={"email": "kunde@example.com", "password": "kunden-passwort", **ids},
        admin={"email": "chefin@example.com", "password": "admin-passwort", "id": admin_id},
    )
    seed.pages["public"] = [
        ("public-login", "/login", "#email"),
        ("public-freebie", f"/p/{code}?ref={code}", "#freebie-form"),
        ("public-thankyou", f"/p/{code}/danke?ref={code}", "#rf-signup .rf-submit"),
        ("public-thankyou-en", f"/p/{english_code}/danke?ref={english_code}", "#rf-signup form"),
        ("public-confirm", f"/api/referral/confirm-lead?token={confirm}", "main"),
        ("public-confirm-invalid", "/api/referral/confirm-lead?token=" + "x" * 30, "main"),
        ("public-hub", f"/hub/{hub}", "#referral-link"),
        ("public-hub-delete", f"/hub/{hub}/delete", "main form"),
        ("public-unsubscribe", f"/unsubscribe/{pid}/{unsubscribe}", "main form"),
        ("public-404", "/diese-seite-gibt-es-nicht", "main"),
        ("public-password-forgot", "/password/forgot", "#email"),
        ("public-password-reset", f"/password/reset/{reset}", "#new_password"),
        ("public-password-reset-invalid", "/password/reset/" + "x" * 43, "#password-reset a"),
    ]
    seed.pages["customer"] = [
        ("customer-overview", "/dashboard/", "#stats-panel"),
        ("customer-not-counted", "/dashboard/not-counted", "main :is(h1, h2)"),
        ("customer-company", "/dashboard/company", "#company-form"),
        ("customer-participants", "/dashboard/participants", "main table"),
        ("customer-participant-delete", f"/dashboard/participants/{pid}/delete", "main form"),
        ("customer-rewards", "/dashboard/rewards", "main :is(h1, h2)"),
        ("customer-reward-grants", "/dashboard/rewards/grants", "main table"),
        ("customer-reward-grants-empty", "/dashboard/rewards/grants?status=revoked", ".empty"),
        ("customer-embed", "/dashboard/embed", "main :is(h1, h2)"),
        ("customer-api-keys", "/dashboard/api-keys", "main table"),
        ("customer-webhooks", "/dashboard/webhooks", "main :is(h1, h2)"),
        ("customer-webhook-detail", f"/dashboard/webhooks/{hook}", "main :is(h1, h2)"),
        ("customer-webhook-delete", f"/dashboard/webhooks/{hook}/delete", "main form"),
        ("customer-password", "/account/password", "#current_password"),
    ]
    seed.pages["admin"] = [
        ("admin-overview", "/admin/", "main :is(h1, h2)"),
        ("admin-customers", "/admin/customers", "main table"),
        ("admin-customer", f"/admin/customers/{ids['id']}", "main :is(h1, h2)"),
        ("admin-fraud", "/admin/fraud", "main :is(h1, h2)"),
        ("admin-backtest", "/admin/backtest", "main :is(h1, h2)"),
        ("admin-audit", "/admin/audit", "main :is(h1, h2)"),
        ("admin-export", "/admin/export", "main :is(h1, h2)"),
        ("admin-password", "/account/password", "#current_password"),
    ]
    return seed


def _log_in(page, base: str, who: dict) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("#email", who["email"])
    page.fill("#password", who["password"])
    with page.expect_navigation():
        page.click("main button[type=submit]")


def _visit_all(browser, base: str, pages, axe: Path, login: dict | None) -> list[str]:  # type: ignore[no-untyped-def]
    """Each page at each width: screenshot, width check, axe, CSP messages. Returns the
    problems found (all of them, so one run shows every broken page)."""
    problems: list[str] = []
    axe_script = axe.read_text(encoding="utf-8") + "\n;true"
    context = browser.new_context(locale="de-DE", viewport={"width": WIDTHS[0], "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        if login:
            _log_in(page, base, login)
        ARTIFACTS.mkdir(exist_ok=True)
        for name, path, ready in pages:
            for width in WIDTHS:
                console.clear()
                page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
                response = page.goto(base + path)
                assert response is not None
                page.wait_for_selector(ready)
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    problems.append(f"{name} at {width} px: scrollWidth {wide}")
                # Nothing cut off inside a table's own scroll box either (the action buttons).
                for clipped in page.evaluate(CLIPPED):
                    problems.append(f"{name} at {width} px: table scrolls in its box: {clipped}")
                # Not page.add_script_tag: an inline <script> is refused by our own CSP.
                # Evaluated over the DevTools protocol, axe runs without loosening it.
                page.evaluate(axe_script)
                for violation in page.evaluate(AXE_RUN):
                    problems.append(f"{name} at {width} px: {violation}")
                for message in console:
                    problems.append(f"{name} at {width} px: {message}")
    finally:
        context.close()
    return problems


@pytest.fixture
def seeded(make_app):  # type: ignore[no-untyped-def]
    app = make_app(WEBHOOK_ALLOW_PRIVATE=True)
    seed = _seed(app)
    with serve(app) as url:
        yield url, seed


def test_dashboard_menu_folds_on_a_phone(seeded, chromium_browser):  # noqa: F811
    """At 390 px the header is one line with a menu button; the button (mouse or keyboard)
    opens and closes the navigation and says so (aria-expanded)."""
    base, seed = seeded
    context = chromium_browser.new_context(locale="de-DE", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        _log_in(page, base, seed.customer)
        page.wait_for_selector("#stats-panel")
        button = page.locator(".nav-toggle")
        nav = page.locator(".site-nav")
        assert page.locator(".site-header").bounding_box()["height"] < 80
        assert nav.is_hidden() and button.get_attribute("aria-expanded") == "false"
        button.click()
        assert nav.is_visible() and button.get_attribute("aria-expanded") == "true"
        page.screenshot(path=str(ARTIFACTS / "customer-menu-open-390.png"))
        page.keyboard.press("Escape")
        assert nav.is_hidden() and button.get_attribute("aria-expanded") == "false"
        button.focus()
        page.keyboard.press("Enter")
        assert nav.is_visible()
        page.get_by_role("link", name="Teilnehmer").click()
        page.wait_for_url("**/dashboard/participants")
        assert page.locator(".site-nav").is_hidden()  # a new page starts folded
        page.set_viewport_size({"width": 1280, "height": 900})
        assert page.locator(".nav-toggle").is_hidden() and page.locator(".site-nav").is_visible()
        page.screenshot(path=str(ARTIFACTS / "customer-header-1280.png"))
        assert page.locator(".site-header").bounding_box()["height"] < 80
    finally:
        context.close()


@pytest.mark.parametrize("role", ["public", "customer", "admin"])
def test_every_page_fits_a_phone_and_passes_axe(seeded, chromium_browser, axe_source, role):  # noqa: F811
    base, seed = seeded
    login = {"customer": seed.customer, "admin": seed.admin}.get(role)
    problems = _visit_all(chromium_browser, base, seed.pages[role], axe_source, login)
    assert not problems, "\n".join(problems)
