"""The admin JSON API (API.md "Admin API"): admin session or admin API key.

The four endpoints of the contract plus what the admin pages also offer (customer list,
backtest, review, program actions, audit trail, fraud-log export), all on the same services.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask_login import current_user

from ...core import readonly
from ...extensions import csrf
from ...models import ROLE_ADMIN, utcnow
from ...reporting import admin
from ...reporting import exports as admin_export
from ...reporting import fraud_log as admin_fraud
from ..access import guard_api
from ..schemas.base import check_query, parse_body
from ..schemas.requests import FraudExportQuery, FraudLogQuery, FraudReview, ProgramAction

bp = Blueprint("admin_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)
guard_api(bp, ROLE_ADMIN)
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


def csv_download(chunks: Iterator[str], name: str) -> Response:
    """A streamed CSV attachment; the body is produced batch by batch as it is sent."""
    filename = f"{name}-{utcnow():%Y-%m-%d}.csv"
    encoded = (chunk.encode("utf-8") for chunk in chunks)
    return Response(
        stream_with_context(encoded),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _wants_bom() -> bool:
    return request.args.get("bom", "1") not in ("0", "false", "no")


@bp.get("/get-overview")
def get_overview():
    return jsonify({"ok": True, **admin.overview()})


@bp.get("/get-customer-details")
def get_customer_details():
    customer_id = admin.require_customer_id(request.args.get("customer_id"))
    return jsonify({"ok": True, **admin.customer_details(customer_id)})


@bp.get("/get-fraud-log")
def get_fraud_log():
    check_query(FraudLogQuery, "since", "until")
    filters = admin_fraud.FraudFilter.parse(request.args)
    return jsonify({"ok": True, **admin_fraud.fraud_log(filters)})


@bp.get("/export-stats")
def export_stats():
    chunks = admin_export.start_stats_export(current_user.id, "api", bom=_wants_bom())
    return csv_download(chunks, "referral-stats")


@bp.get("/export-fraud-log")
def export_fraud_log():
    check_query(FraudExportQuery, "since", "until")
    filters = admin_fraud.FraudFilter.parse(request.args)
    chunks = admin_export.start_fraud_export(current_user.id, "api", filters, bom=_wants_bom())
    return csv_download(chunks, "referral-fraud-log")


@bp.get("/get-customers")
def get_customers():
    query = admin.CustomerQuery.parse(request.args)
    return jsonify({"ok": True, **admin.customer_list(query)})


@bp.post("/customer-program")
def customer_program():
    body = parse_body(ProgramAction)
    customer = admin.change_program(
        admin.require_customer_id(body.customer_id),
        body.action,
        current_user.id,
        body.reason or "",
        via="api",
    )
    return jsonify({"ok": True, "customer": admin.customer_summary(customer)})


@bp.post("/review-fraud")
def review_fraud():
    changed = admin_fraud.mark_reviewed(parse_body(FraudReview).ids, current_user.id, via="api")
    return jsonify({"ok": True, "reviewed": changed})


@bp.get("/fraud-backtest")
def fraud_backtest():
    query = admin_fraud.BacktestQuery.parse(request.args)
    return jsonify({"ok": True, **admin_fraud.backtest(query)})


@bp.get("/get-audit-log")
def get_audit_log():
    query = admin.AuditQuery.parse(request.args)
    return jsonify({"ok": True, **admin.audit_log(query)})
