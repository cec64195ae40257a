"""The customer fills a code bank and works the approval queue in headless Chromium, at a
phone's and a desktop's width: the error states first, then what works. Screenshots land
in test-artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from referral_app.extensions import db
from referral_app.models import Participant, RewardGrant
from referral_app.rewards import codes, milestones
from referral_app.rewards import ledger as rewards

from .support_browser import (  # noqa: F401
    browser_page,
    chromium_browser,
    live_url,
    screenshot,
    wait_htmx_ready,
)
from .support_customer import add_participant

pytestmark = pytest.mark.browser


def _queue(app, customer_id: int) -> int:
    """A code reward with manual approval and three participants who reached it."""
    with app.app_context():
        reward = milestones.create_milestone(
            customer_id,
            {
                "threshold": 1,
                "tier": "Bronze",
                "title": "Gutschein",
                "kind": "code",
                "hold_days": 0,
                "manual_approval": True,
            },
        )
        reward_id = reward.id
    for name in ("anna", "ben", "clara"):
        add_participant(app, customer_id, f"{name}@example.org", name=name.title())
    with app.app_context():
        db.session.execute(update(Participant).values(conversions=1))
        db.session.commit()
        rewards.sync_ledger()
    return reward_id


@pytest.mark.parametrize("width", [390, 1280])
def test_customer_fills_the_code_bank_and_approves_in_the_queue(
    app,
    live_url,
    browser_page,
    customer,
    width,  # noqa: F811
):
    reward_id = _queue(app, customer["id"])
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_url}/login")
    page.fill("#email", customer["email"])
    page.fill("#password", customer["password"])
    page.click("main button[type=submit]")
    page.wait_for_selector("#stats-panel")

    page.goto(f"{live_url}/dashboard/rewards")
    wait_htmx_ready(page)
    bank = f'[data-code-bank="{reward_id}"]'
    page.wait_for_selector(f"{bank} .flash-error")  # no codes yet: the customer is told
    page.click(f"{bank} button[type=submit]")  # nothing pasted: an error at the field
    page.wait_for_selector(f"#codes-{reward_id}-error")
    wait_htmx_ready(page)
    assert page.locator(f"#codes-{reward_id}").get_attribute("aria-invalid") == "true"
    screenshot(page, f"rewards-01-code-bank-error-{width}")
    page.fill(f"#codes-{reward_id}", "SOMMER-1\nSOMMER-2\nSOMMER-2\n")
    page.click(f"{bank} button[type=submit]")
    page.wait_for_selector("#reward-editor .flash-success")
    wait_htmx_ready(page)
    assert page.locator(f"{bank} [data-codes-available]").inner_text().startswith("2")
    assert page.locator(f"{bank} [data-low-stock]").count() == 1  # 2 left: running low
    screenshot(page, f"rewards-02-code-bank-filled-{width}")

    page.click('a[href="/dashboard/rewards/grants"]')
    page.wait_for_selector("#grant-decisions")
    wait_htmx_ready(page)
    screenshot(page, f"rewards-03-queue-{width}")
    rows = page.locator("tr[data-grant-id]")
    assert rows.count() == 3
    first, second, third = (rows.nth(n).get_attribute("data-grant-id") for n in range(3))

    # A bulk reject asks first; without a reason the server says what is missing.
    page.check(f"#grant-{second}")
    page.check(f"#grant-{third}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[value="reject"]')
    page.wait_for_selector("#grant-error")
    wait_htmx_ready(page)
    screenshot(page, f"rewards-04-reject-needs-reason-{width}")
    page.check(f"#grant-{second}")
    page.check(f"#grant-{third}")
    page.fill("#reject-reason", "Eigene Bestellung")
    page.once("dialog", lambda dialog: dialog.dismiss())  # "no": nothing happens
    page.click('button[value="reject"]')
    assert page.locator("tr[data-grant-id]").count() == 3
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button[value="reject"]')
    page.wait_for_selector("#grant-list .flash-success")
    wait_htmx_ready(page)
    assert page.locator("tr[data-grant-id]").count() == 1

    page.check(f"#grant-{first}")
    page.click('button[value="approve"]')
    page.wait_for_selector("#grant-list .empty")
    wait_htmx_ready(page)
    screenshot(page, f"rewards-05-approved-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    with app.app_context():
        statuses = dict(db.session.execute(select(RewardGrant.id, RewardGrant.status)).all())
        assert sorted(statuses.values()) == ["delivered", "revoked", "revoked"]
        assert statuses[int(first)] == "delivered"
        assert codes.stock(reward_id)["available"] == 1
