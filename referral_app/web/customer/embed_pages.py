"""Dashboard: the embed snippet with its QR code, and the customer's API keys."""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _
from flask_login import current_user

from ...accounts import company
from ...accounts import users as accounts
from ...core import qr
from ...core.errors import ValidationFailed
from ..access import current_customer_id
from ..templating import render_page
from .pages import _status_context, base_url, bp, done


@bp.get("/embed")
def embed():
    return render_page("customer/embed.html", **_status_context(current_customer_id()))


@bp.get("/embed/qr.svg", defaults={"kind": "svg"})
@bp.get("/embed/qr.png", defaults={"kind": "png"})
def embed_qr(kind: str):
    """The program link as a QR code (segno), inline on the page or as a download."""
    customer = company.get_customer(current_customer_id())
    link = company.program_links(customer, base_url())["program"]
    body, mimetype = qr.image(link, kind)
    response = Response(body, mimetype=mimetype)
    if request.args.get("download"):
        filename = f"qr-{customer.ref_code}.{kind}"
        response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _api_keys_page(new_key: str | None = None, status: int = 200, error: str | None = None):
    return render_page(
        "customer/api_keys.html",
        keys=accounts.list_api_keys(current_user),
        new_key=new_key,
        error=error,
    ), status


@bp.get("/api-keys")
def api_keys():
    return _api_keys_page()


@bp.post("/api-keys")
def api_key_create():
    """The new key is shown in this answer only (no redirect: it must not be stored)."""
    try:
        _key, raw = accounts.create_api_key(current_user, request.form.get("name"))
    except ValidationFailed as exc:
        return _api_keys_page(error=exc.message, status=400)
    response, status = _api_keys_page(new_key=raw, status=201)
    return response, status, {"Cache-Control": "no-store"}


@bp.post("/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    accounts.revoke_api_key(current_user, key_id)
    return done(_("The API key is revoked."), "customer.api_keys")
