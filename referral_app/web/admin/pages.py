"""Admin pages (HTMX): every program at a glance, customers, fraud log, backtest, exports
and the audit trail. Each page is one template; HTMX requests get only its live block.
Every action is a form POST with CSRF that redirects back with a flash message."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...core import readonly
from ...core.errors import NotFound, ValidationFailed
from ...core.localtime import ADMIN_ZONE
from ...models import FRAUD_TYPES, ROLE_ADMIN
from ...reporting import admin_customers, admin_overview, audit_trail
from ...reporting import backtest as backtests
from ...reporting import exports as admin_export
from ...reporting import fraud_log as fraud_logs
from ..access import guard_pages
from ..auth import safe_next
from ..downloads import csv_format, csv_response
from ..schemas.base import check_fields, check_query
from ..schemas.queries import FraudLogFilter, FraudLogQuery
from ..templating import render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_pages(bp, ROLE_ADMIN, anonymous_status=401)
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


def _back(default: str):
    return redirect(safe_next(request.form.get("next")) or default)


@bp.get("/")
def overview():
    """Every program at a glance; the `live` block refreshes itself every 10 s."""
    return render_page(
        "admin/overview.html",
        block="live",
        overview=admin_overview.overview(),
        series=admin_overview.overall_daily_series(),
        recent_fraud=fraud_logs.fraud_log(fraud_logs.FraudFilter(), per_page=5)["items"],
    )


@bp.get("/customers")
def customers():
    query = admin_customers.CustomerQuery.parse(request.args)
    return render_page(
        "admin/customers.html",
        block="results",
        query=query,
        listing=admin_customers.customer_list(query),
    )


@bp.get("/customers/<int:customer_id>")
def customer(customer_id: int):
    """The drill-down: a page of its own, or only the panel for the list's HTMX link."""
    return render_page(
        "admin/customer.html", block="panel", details=admin_customers.customer_details(customer_id)
    )


@bp.post("/customers/<int:customer_id>/program")
def customer_program(customer_id: int):
    action = request.form.get("action", "")
    messages = {
        "enable": _("The program is switched on."),
        "disable": _("The program is switched off."),
        "suspend": _("The program is suspended."),
        "unsuspend": _("The suspension is lifted."),
    }
    try:
        admin_customers.change_program(
            customer_id, action, current_user.id, request.form.get("reason"), via="page"
        )
        flash(messages[action], "success")
    except ValidationFailed as exc:
        flash(exc.message, "error")
    return _back(url_for("admin.customer", customer_id=customer_id))


@bp.post("/customers/<int:customer_id>/delete")
def customer_delete(customer_id: int):
    try:
        name = admin_customers.delete_customer(
            customer_id, current_user.id, request.form.get("confirm", ""), via="page"
        )
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.customer", customer_id=customer_id))
    flash(_("%(name)s and all its data are deleted.", name=name), "success")
    return redirect(url_for("admin.customers"))


@bp.post("/customers/<int:customer_id>/erase-participant")
def customer_erase_participant(customer_id: int):
    try:
        admin_customers.erase_participant(
            customer_id, request.form.get("code", ""), current_user.id
        )
        flash(_("The participant and their personal data are deleted."), "success")
    except NotFound as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.customer", customer_id=customer_id))


@bp.get("/fraud")
def fraud_log():
    errors: dict[str, str] = {}
    try:
        check_query(FraudLogQuery, "since", "until")  # bounded, so no date overflows
        filters = fraud_logs.FraudFilter.parse(request.args)
        log = fraud_logs.fraud_log(filters)
    except ValidationFailed as exc:
        errors = exc.fields or {"": exc.message}
        filters = fraud_logs.FraudFilter()
        log = {"items": [], "page": 1, "next_page": None}
    page = render_page(
        "admin/fraud.html",
        block="results",
        filters=filters,
        log=log,
        errors=errors,
        fraud_types=FRAUD_TYPES,
        form=request.args,
    )
    return page, (400 if errors else 200)


@bp.post("/fraud/review")
def fraud_review():
    try:
        changed = fraud_logs.mark_reviewed(request.form.getlist("ids"), current_user.id)
        flash(_("%(n)s entries marked as reviewed.", n=changed), "success")
    except ValidationFailed as exc:
        flash(exc.message, "error")
    return _back(url_for("admin.fraud_log"))


@bp.get("/backtest")
def backtest():
    """Replay a rule with another threshold; a GET form, as it changes nothing."""
    errors: dict[str, str] = {}
    result = None
    if request.args.get("rule"):
        try:
            result = backtests.backtest(backtests.BacktestQuery.parse(request.args))
        except ValidationFailed as exc:
            errors = exc.fields or {"": exc.message}
    page = render_page(
        "admin/backtest.html",
        block="results",
        rules=backtests.rule_choices(),
        result=result,
        errors=errors,
        form=request.args,
    )
    return page, (400 if errors else 200)


@bp.get("/export")
def export():
    return render_page("admin/export.html", fraud_types=FRAUD_TYPES)


@bp.post("/export/stats.csv")
def export_stats():
    """A POST (with CSRF) because the export is an audited action; the answer is the file."""
    try:
        fmt = csv_format(request.form, zone=ADMIN_ZONE)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.export"))
    chunks = admin_export.start_stats_export(current_user.id, "page", fmt)
    return csv_response(chunks, "referral-stats")


@bp.post("/export/fraud-log.csv")
def export_fraud_log():
    try:
        check_fields(FraudLogFilter, request.form.to_dict(), "since", "until")
        filters = fraud_logs.FraudFilter.parse(request.form)
        fmt = csv_format(request.form, zone=ADMIN_ZONE)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.export"))
    chunks = admin_export.start_fraud_export(current_user.id, "page", filters, fmt)
    return csv_response(chunks, "referral-fraud-log")


@bp.get("/audit")
def audit():
    query = audit_trail.AuditQuery.parse(request.args)
    return render_page(
        "admin/audit.html",
        block="results",
        query=query,
        log=audit_trail.audit_log(query),
        choices=audit_trail.audit_filters(),
    )
