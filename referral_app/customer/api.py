"""The customer JSON API (API.md "Customer API"): session login or Bearer API key."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..access import current_customer_id, guard_api
from ..extensions import csrf
from ..models import ROLE_CUSTOMER
from ..services.dashboard import program_stats

bp = Blueprint("customer_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)  # the guard runs CSRF itself for session logins; API keys need none
guard_api(bp, ROLE_CUSTOMER)


@bp.get("/get-stats")
def get_stats():  # type: ignore[no-untyped-def]
    """The program's totals, last 30 days and 7-day trend, from aggregates only."""
    return jsonify({"ok": True, **program_stats(current_customer_id())})
