"""Dashboard: the program's freebie (what the hosted pages give away)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from ...accounts import company, uploads
from ...accounts import freebie as freebies
from ...core.errors import ValidationFailed
from ..access import current_customer_id
from ..templating import render_page
from ..uploads import checked, uploaded
from .pages import base_url, bp, done, form_data, fragment_request


@bp.route("/freebie", methods=["GET", "POST"], endpoint="freebie")
def freebie_page():
    customer_id = current_customer_id()
    customer = company.get_customer(customer_id)
    current = freebies.freebie_dict(customer)
    values = {key: current[key] for key in ("title", "description", "url")}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {**values, **form_data()}
        try:
            current = freebies.update_freebie(
                customer_id,
                values,
                file=uploaded("file", uploads.FREEBIE),
                image=uploaded("image", uploads.FREEBIE_IMAGE),
                remove_file=checked("remove_file"),
                remove_image=checked("remove_image"),
            )
        except ValidationFailed as exc:
            errors, status = exc.fields or {}, 422
        else:
            if not fragment_request():
                return done(_("Your freebie is saved."), "customer.freebie")
    html = render_page(
        "customer/freebie.html",
        block="freebie_form",
        values=values,
        freebie=current,
        errors=errors,
        saved=request.method == "POST" and not errors,
        program_url=company.program_links(customer, base_url())["program"],
    )
    return html, status
