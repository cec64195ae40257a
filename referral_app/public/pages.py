"""Pages for visitors and participants: hosted freebie / thank-you pages, the hub.

The hosted pages let a customer without a website of their own run a program: `/p/<code>` is
the freebie page (the tracking script counts the click and carries `ref` and `click_id` on),
`/p/<code>/danke` its thank-you page (the script counts the conversion and shows the sign-up
form). They load nothing but our own script and stylesheet, so the app's CSP stays as it is.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from ..services import tracking

bp = Blueprint("public", __name__)


@bp.get("/p/<code>")
def freebie(code: str):  # type: ignore[no-untyped-def]
    """The program's freebie page. Opened without a usable `?ref=` (the program link itself,
    or a code of another program) it redirects to `?ref=<program code>`, so every visit through
    the program link is a click on the program's own code."""
    customer = tracking.hosted_program(code)
    ref = tracking.hosted_ref(customer, request.args.get("ref"))
    if ref != request.args.get("ref"):
        return redirect(url_for(".freebie", code=customer.ref_code, ref=ref), code=302)
    return render_template("public/freebie.html", customer=customer, ref=ref)


@bp.get("/p/<code>/danke")
def thankyou(code: str):  # type: ignore[no-untyped-def]
    """The thank-you page the freebie page's form leads to (`?ref=…&click_id=…`)."""
    customer = tracking.hosted_program(code)
    return render_template("public/thankyou.html", customer=customer)
