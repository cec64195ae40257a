"""Pages for visitors and participants: hosted freebie / thank-you pages, the hub.

The hosted pages let a customer without a website of their own run a program: `/p/<code>` is
the freebie page (the tracking script counts the click and carries `ref` and `click_id` on),
`/p/<code>/danke` its thank-you page (the script counts the conversion and shows the sign-up
form). They load nothing but our own script and stylesheet, so the app's CSP stays as it is.

Every page here is cookie-free (see `cookieless`): the layout is templates/public/base.html,
the language is the program's, errors are answered in the same layout, and form posts from
other sites are refused without needing a session.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ...accounts import branding
from ...accounts import freebie as freebies
from ...core.errors import DomainError, NotFound
from ...participants.consent import mail_language
from ...rewards import milestones
from ...tracking import owners
from ..errors import error_response, wants_json_response
from .cookieless import cross_site_post, speak
from .leads import secret_page

bp = Blueprint("public", __name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def page_error(status: int, code: str, message: str, **extra: Any):
    """An error on a visitor page: JSON for JSON clients, else the cookie-free layout."""
    if wants_json_response():
        return error_response(status, code, message, **extra)
    return secret_page("public/error.html", status, http_status=status, message=message)


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    extra = {"fields": exc.fields} if exc.fields else {}
    return page_error(exc.status, exc.code, exc.message, **extra)


@bp.errorhandler(429)
def rate_limited(exc: Exception):
    return page_error(
        429, "rate_limited", _("Too many requests. Please wait a moment and try again.")
    )


def _one_click_unsubscribe() -> bool:
    """RFC 8058: the mail provider POSTs `List-Unsubscribe=One-Click` itself, from wherever
    it runs; the signed link is the key."""
    return (
        request.endpoint == "public.unsubscribe"
        and request.form.get("List-Unsubscribe") == "One-Click"
    )


@bp.before_request
def refuse_cross_site_forms():
    """The forms on these pages are posted from these pages only. Flask-WTF's token would
    need a session cookie, so the check is stateless (see `cookieless.cross_site_post`);
    it guards every form of the blueprint, also any added later without a secret token."""
    if request.method in SAFE_METHODS or _one_click_unsubscribe() or not cross_site_post():
        return None
    return page_error(
        400, "csrf_failed", _("The form expired or was sent from elsewhere. Please reload.")
    )


def _program_page(template: str, customer, **context: Any) -> str:  # type: ignore[no-untyped-def]
    """A hosted page in the program's language and look. While the program is off or
    suspended it still shows the freebie, without the tracking script and the sign-up."""
    speak(mail_language(customer))
    return render_template(
        template,
        customer=customer,
        brand=branding.brand(customer),
        freebie=freebies.freebie_dict(customer),
        active=customer.program_active,
        **context,
    )


@bp.get("/p/<code>")
def freebie(code: str):
    """The program's freebie page. Opened without a usable `?ref=` (the program link itself,
    or a code of another program) it redirects to `?ref=<program code>`, so every visit through
    the program link is a click on the program's own code."""
    customer = owners.hosted_program(code)
    ref = owners.hosted_ref(customer, request.args.get("ref"))
    if ref != request.args.get("ref"):
        return redirect(url_for(".freebie", code=customer.ref_code, ref=ref), code=302)
    return _program_page("public/freebie.html", customer, ref=ref)


@bp.get("/p/<code>/danke")
def thankyou(code: str):
    """The thank-you page the freebie page's form leads to (`?ref=…&click_id=…`): it hands
    out the freebie (a download or the customer's address) and offers the sign-up."""
    customer = owners.hosted_program(code)
    ladder = milestones.list_milestones(customer.id)
    return _program_page("public/thankyou.html", customer, milestones=ladder)


@bp.get("/p/<code>/impressum")
def imprint(code: str):
    """The program's Impressum as a page of its own, so pages and the sign-up form can link
    to it."""
    customer = owners.hosted_program(code)
    if not (customer.imprint or "").strip():
        speak(mail_language(customer))
        raise NotFound(_("This program has no Impressum yet."))
    return _program_page("public/imprint.html", customer)
