"""Customer dashboard pages (HTMX): one template per page, fragments as blocks.

Every form is a real POST that works without JavaScript (POST-redirect-GET with a flash
message); with htmx the same URL answers only the fragment that changed. The views parse
input and call the same service functions as the JSON API.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block

from ...accounts import company
from ...accounts import users as accounts
from ...core import readonly
from ...core.errors import DomainError, ValidationFailed
from ...extensions import htmx
from ...models import ROLE_CUSTOMER
from ...reporting import charts, dashboard, participant_list, why_not_counted
from ...rewards import milestones
from ..access import current_customer_id, guard_pages
from ..templating import render_page

bp = Blueprint("customer", __name__, url_prefix="/dashboard")
guard_pages(bp, ROLE_CUSTOMER)
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


@bp.context_processor
def nav_context() -> dict[str, Any]:
    """The nav links another area may add (webhooks) show up once their endpoint exists."""
    return {"url_map_endpoints": current_app.view_functions}


def fragment_request() -> bool:
    """An htmx request that swaps one fragment (not a boosted page navigation)."""
    return bool(htmx) and not htmx.boosted


def done(message: str, endpoint: str, **values: Any):
    """POST-redirect-GET: the message survives the redirect as a flash."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values), code=303)


def form_data() -> dict[str, Any]:
    return request.form.to_dict()


def base_url() -> str:
    return str(current_app.config.get("PUBLIC_BASE_URL", request.host_url)).rstrip("/")


# --- overview --------------------------------------------------------------------------------


def _panel_context(customer_id: int) -> dict[str, Any]:
    panel = dashboard.live_panel(customer_id)
    return {"panel": panel, "chart": charts.chart(panel["series"])}


def _status_context(customer_id: int) -> dict[str, Any]:
    customer = company.get_customer(customer_id)
    return {"customer": customer, "links": company.program_links(customer, base_url())}


@bp.get("/")
def overview():
    customer_id = current_customer_id()
    return render_page(
        "customer/overview.html",
        failed_mails=dashboard.failed_mail_count(customer_id),
        **_status_context(customer_id),
        **_panel_context(customer_id),
    )


@bp.get("/not-counted")
def not_counted():
    """ "Why wasn't this counted?": loaded into the overview by htmx, a page of its own
    without JavaScript."""
    return render_page(
        "customer/not_counted.html",
        block="not_counted_panel",
        not_counted=why_not_counted.not_counted(current_customer_id()),
        status_labels={key: str(label) for key, label in why_not_counted.STATUS_LABELS.items()},
    )


@bp.get("/stats")
def stats_panel():
    """The live panel alone, polled every 10 s: aggregates only, 304 when unchanged."""
    customer_id = current_customer_id()
    context = _panel_context(customer_id)
    etag = dashboard.panel_etag(context["panel"], str(get_locale() or "de"))
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(render_block("customer/overview.html", "stats_panel", **context))
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/program/toggle")
def toggle():
    customer_id = current_customer_id()
    enabled = company.parse_bool(request.form.get("enabled"))
    try:
        active = company.set_enabled(customer_id, enabled)
        message = _("The program is on.") if active else _("The program is off.")
        error = None
    except DomainError as exc:
        message, error = None, exc.message
    if fragment_request():
        return render_page(
            "customer/overview.html",
            block="program_status",
            status_message=message,
            status_error=error,
            **_status_context(customer_id),
        )
    if error:
        flash(error, "error")
        return redirect(url_for("customer.overview"), code=303)
    return done(message or "", "customer.overview")


# --- company details -------------------------------------------------------------------------


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
            company.update_company(customer_id, values)
        except ValidationFailed as exc:
            errors, status = exc.fields or {}, 422
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
        preview_html=_preview(values),
    )
    return html, status


@bp.post("/company/preview")
def company_preview():
    """The live preview: the form's current values, nothing saved."""
    customer = company.get_customer(current_customer_id())
    values = {**company.company_dict(customer), **form_data()}
    return _preview(values)


# --- participants ----------------------------------------------------------------------------


def _participant_filters() -> dict[str, str | None]:
    return {
        "status": request.args.get("status") or None,
        "q": (request.args.get("q") or "").strip()[:254] or None,
    }


@bp.get("/participants")
def participants():
    filters = _participant_filters()
    error = None
    try:
        page = participant_list.list_participants(
            current_customer_id(), cursor=request.args.get("cursor") or None, **filters
        )
    except ValidationFailed as exc:
        page, error = {"items": [], "next_cursor": None}, exc.message
    return render_page(
        "customer/participants.html",
        block="participant_list",
        page=page,
        filters=filters,
        error=error,
        statuses=participant_list.PARTICIPANT_STATUSES,
        status_labels=why_not_counted.STATUS_LABELS,
        first_page=not request.args.get("cursor"),
    )


@bp.get("/participants.csv")
def participants_csv():
    """Every participant matching the list's filters, streamed (no page size limit)."""
    rows = participant_list.participants_csv_rows(current_customer_id(), **_participant_filters())

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate(0)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=participants.csv"},
    )


@bp.get("/participants/<int:participant_id>/export.json")
def participant_export(participant_id: int):
    """One participant's data as a file (DSGVO Art. 15), for the customer to hand over."""
    from ...participants import export

    customer_id = current_customer_id()
    participant_list.get_participant(customer_id, participant_id)
    data = {"ok": True, **export.export_participant(customer_id, participant_id)}
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=participant-{participant_id}.json"},
    )


@bp.route("/participants/<int:participant_id>/delete", methods=["GET", "POST"])
def participant_delete(participant_id: int):
    """A confirmation page first (works without JavaScript), then the erasure (Art. 17)."""
    customer_id = current_customer_id()
    participant = participant_list.get_participant(customer_id, participant_id)
    if request.method == "GET":
        return render_page("customer/participant_delete.html", participant=participant)
    from ...participants import erasure

    erasure.erase_participant(customer_id, participant_id, f"user:{current_user.id}")
    return done(_("The participant's data is deleted."), "customer.participants")


# --- rewards ---------------------------------------------------------------------------------


def _rewards_page(message: str | None = None, **extra: Any):
    status = 422 if extra.get("errors") or extra.get("edit_errors") else 200
    context = {
        "items": milestones.list_milestones(current_customer_id()),
        "message": message,
        "values": {},
        "errors": {},
        "edit_id": None,
        "edit_values": {},
        "edit_errors": {},
        **extra,
    }
    return render_page("customer/rewards.html", block="reward_editor", **context), status


def _reward_result(message: str):
    if fragment_request():
        return _rewards_page(message)
    return done(message, "customer.rewards")


@bp.get("/rewards")
def rewards():
    return _rewards_page()


@bp.post("/rewards")
def reward_create():
    data = form_data()
    try:
        milestones.create_milestone(current_customer_id(), data)
    except ValidationFailed as exc:
        return _rewards_page(values=data, errors=exc.fields or {})
    return _reward_result(_("The reward is added."))


@bp.post("/rewards/<int:reward_id>")
def reward_update(reward_id: int):
    data = form_data()
    try:
        milestones.update_milestone(current_customer_id(), reward_id, data)
    except ValidationFailed as exc:
        return _rewards_page(edit_id=reward_id, edit_values=data, edit_errors=exc.fields or {})
    return _reward_result(_("The reward is saved."))


@bp.post("/rewards/<int:reward_id>/move")
def reward_move(reward_id: int):
    milestones.move(current_customer_id(), reward_id, request.form.get("direction", ""))
    return _reward_result(_("The order is saved."))


@bp.post("/rewards/<int:reward_id>/delete")
def reward_delete(reward_id: int):
    milestones.delete_milestone(current_customer_id(), reward_id)
    return _reward_result(_("The reward is removed."))


# --- embed -----------------------------------------------------------------------------------


@bp.get("/embed")
def embed():
    return render_page("customer/embed.html", **_status_context(current_customer_id()))


@bp.get("/embed/qr.svg", defaults={"kind": "svg"})
@bp.get("/embed/qr.png", defaults={"kind": "png"})
def embed_qr(kind: str):
    """The program link as a QR code (segno), inline on the page or as a download."""
    customer = company.get_customer(current_customer_id())
    link = company.program_links(customer, base_url())["program"]
    qr = segno.make(link, error="m")
    buffer = io.BytesIO()
    if kind == "svg":
        qr.save(buffer, kind="svg", scale=6, border=2, xmldecl=False, title=link)
        mimetype = "image/svg+xml"
    else:
        qr.save(buffer, kind="png", scale=10, border=2)
        mimetype = "image/png"
    response = Response(buffer.getvalue(), mimetype=mimetype)
    if request.args.get("download"):
        filename = f"qr-{customer.ref_code}.{kind}"
        response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# --- API keys --------------------------------------------------------------------------------


def _api_keys_page(new_key: str | None = None, status: int = 200):
    return render_page(
        "customer/api_keys.html",
        keys=accounts.list_api_keys(current_user),
        new_key=new_key,
    ), status


@bp.get("/api-keys")
def api_keys():
    return _api_keys_page()


@bp.post("/api-keys")
def api_key_create():
    """The new key is shown in this answer only (no redirect: it must not be stored)."""
    _key, raw = accounts.create_api_key(current_user, request.form.get("name"))
    response, status = _api_keys_page(new_key=raw, status=201)
    return response, status, {"Cache-Control": "no-store"}


@bp.post("/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int):
    accounts.revoke_api_key(current_user, key_id)
    return done(_("The API key is revoked."), "customer.api_keys")
