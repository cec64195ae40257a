"""Dashboard: the company details (shown in every e-mail sent in the customer's name)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _

from ...accounts import company, uploads
from ...core.errors import ValidationFailed
from ..access import current_customer_id
from ..templating import render_page
from ..uploads import checked, uploaded
from .pages import base_url, bp, done, form_data, fragment_request


def _preview(values: dict[str, Any]) -> str:
    """The confirmation mail as it would look with these (maybe unsaved) details, in the
    mail's language."""
    context = company.mail_preview_context(values, base_url())
    with force_locale(context["language"]):
        mail = company.render_mail_preview(context)
        return render_template("customer/_mail_preview.html", preview=context, mail=mail)


@bp.route("/company", methods=["GET", "POST"], endpoint="company")
def company_page():
    customer_id = current_customer_id()
    customer = company.get_customer(customer_id)
    values = company.company_dict(customer)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {**values, **form_data()}
        try:
            company.update_company(
                customer_id,
                values,
                logo=uploaded("logo", uploads.LOGO),
                remove_logo=checked("remove_logo"),
            )
        except ValidationFailed as exc:
            errors, status = exc.fields or {}, 422
            values["logo_url"] = company.company_dict(customer)["logo_url"]
        else:
            if not fragment_request():
                return done(_("Your company details are saved."), "customer.company")
            values = company.company_dict(customer)
    saved = request.method == "POST" and not errors
    html = render_page(
        "customer/company.html",
        block="company_form",
        values=values,
        errors=errors,
        saved=saved,
        time_zones=sorted(company.time_zones()),
        # the notice follows what is saved, not what was typed
        saved_domains=list(customer.allowed_domains or []),
        max_domains=company.MAX_DOMAINS,
        preview_html=_preview(values),
    )
    return html, status


@bp.post("/company/preview")
def company_preview():
    """The live preview: the form's current values, nothing saved."""
    customer = company.get_customer(current_customer_id())
    values = {**company.company_dict(customer), **form_data()}
    return _preview(values)
