"""The admin JSON API (API.md "Admin API"): admin session or admin API key.

The four endpoints of the contract plus what the admin pages also offer (customer list,
backtest, review, program actions, audit trail, fraud-log export), all on the same domain functions.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user

from ...core import readonly
from ...extensions import csrf
from ...models import ROLE_ADMIN
from ...reporting import admin_customers, admin_overview, audit_trail, backtest, fraud_log
from ...reporting import exports as admin_export
from .. import ratelimits
from ..access import guard_api
from ..downloads import csv_format, csv_response
from ..schemas.base import check_query, parse_body
from ..schemas.queries import FraudExportQuery, FraudLogQuery, StatsExportQuery
from ..schemas.requests import FraudReview, ProgramAction

bp = Blueprint("admin_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)
guard_api(bp, ROLE_ADMIN)
ratelimits.admin_api(bp)  # per admin (RATELIMIT_ADMIN_API), 429 `rate_limited`
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


def _csv_format():
    """The API keeps its plain CSV by default (API.md); `format=de` asks for Excel's."""
    return csv_format(request.args, default="plain")


@bp.get("/get-overview")
def get_overview():
    return jsonify({"ok": True, **admin_overview.overview()})


@bp.get("/get-customer-details")
def get_customer_details():
    customer_id = admin_customers.require_customer_id(request.args.get("customer_id"))
    return jsonify({"ok": True, **admin_customers.customer_details(customer_id)})


@bp.get("/get-fraud-log")
def get_fraud_log():
    check_query(FraudLogQuery, "since", "until")
    filters = fraud_log.FraudFilter.parse(request.args)
    return jsonify({"ok": True, **fraud_log.fraud_log(filters)})


@bp.get("/export-stats")
def export_stats():
    check_query(StatsExportQuery, "format", "zone", "bom")
    chunks = admin_export.start_stats_export(current_user.id, "api", _csv_format())
    return csv_response(chunks, "referral-stats")


@bp.get("/export-fraud-log")
def export_fraud_log():
    check_query(FraudExportQuery, "since", "until", "format", "zone", "bom")
    filters = fraud_log.FraudFilter.parse(request.args)
    fmt = _csv_format()
    chunks = admin_export.start_fraud_export(current_user.id, "api", filters, fmt)
    return csv_response(chunks, "referral-fraud-log")


@bp.get("/get-customers")
def get_customers():
    query = admin_customers.CustomerQuery.parse(request.args)
    return jsonify({"ok": True, **admin_customers.customer_list(query)})


@bp.post("/customer-program")
def customer_program():
    body = parse_body(ProgramAction)
    customer = admin_customers.change_program(
        admin_customers.require_customer_id(body.customer_id),
        body.action,
        current_user.id,
        body.reason or "",
        via="api",
    )
    return jsonify({"ok": True, "customer": admin_customers.customer_summary(customer)})


@bp.post("/review-fraud")
def review_fraud():
    changed = fraud_log.mark_reviewed(parse_body(FraudReview).ids, current_user.id, via="api")
    return jsonify({"ok": True, "reviewed": changed})


@bp.get("/fraud-backtest")
def fraud_backtest():
    query = backtest.BacktestQuery.parse(request.args)
    return jsonify({"ok": True, **backtest.backtest(query)})


@bp.get("/get-audit-log")
def get_audit_log():
    query = audit_trail.AuditQuery.parse(request.args)
    return jsonify({"ok": True, **audit_trail.audit_log(query)})
