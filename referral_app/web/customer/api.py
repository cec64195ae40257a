"""The customer JSON API (API.md "Customer API"): session login or Bearer API key.

Every route works on the signed-in customer's own data only: ids of another customer's
rows are answered 404, exactly like ids that do not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from ...accounts import company
from ...core import readonly
from ...core.errors import ValidationFailed
from ...extensions import csrf
from ...models import ROLE_CUSTOMER
from ...participants import erasure, export
from ...reporting import dashboard, paging, participant_list
from ...reporting.dashboard import program_stats
from ...rewards import milestones
from ..access import current_customer_id, guard_api

bp = Blueprint("customer_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)  # the guard runs CSRF itself for session logins; API keys need none
guard_api(bp, ROLE_CUSTOMER)
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


def body() -> dict[str, Any]:
    """A JSON object or a form body, as API.md allows both."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ValidationFailed("The body must be a JSON object.", code="invalid_json")
        return data
    return request.form.to_dict()


def ok(status: int = 200, **payload: Any):
    response = jsonify({"ok": True, **payload})
    response.status_code = status
    return response


@bp.get("/get-stats")
def get_stats():
    """The program's totals, last 30 days and 7-day trend, from aggregates only."""
    return ok(**program_stats(current_customer_id()))


@bp.post("/toggle")
def toggle():
    enabled = company.parse_bool(body().get("enabled"))
    return ok(enabled=company.set_enabled(current_customer_id(), enabled))


@bp.post("/update-company")
def update_company():
    return ok(company=company.update_company(current_customer_id(), body()))


@bp.get("/rewards")
def rewards():
    items = milestones.list_milestones(current_customer_id())
    return ok(items=[milestones.milestone_dict(m) for m in items])


@bp.post("/rewards")
def create_reward():
    milestone = milestones.create_milestone(current_customer_id(), body())
    return ok(201, id=milestone.id)


@bp.route("/rewards/<int:reward_id>", methods=["PATCH", "PUT"])
def update_reward(reward_id: int):
    milestone = milestones.update_milestone(current_customer_id(), reward_id, body())
    return ok(item=milestones.milestone_dict(milestone))


@bp.delete("/rewards/<int:reward_id>")
def delete_reward(reward_id: int):
    milestones.delete_milestone(current_customer_id(), reward_id)
    return ok()


@bp.post("/rewards/reorder")
def reorder_rewards():
    """Body `ids`: every reward id once, in the wanted order (lowest threshold first)."""
    data = body()
    ids = data.get("ids") if request.is_json else request.form.getlist("ids")
    items = milestones.reorder(current_customer_id(), ids if isinstance(ids, list) else [])
    return ok(items=[milestones.milestone_dict(m) for m in items])


@bp.get("/participants")
def participants():
    args = request.args
    page = participant_list.list_participants(
        current_customer_id(),
        status=args.get("status") or None,
        q=args.get("q") or None,
        cursor=args.get("cursor") or None,
        limit=paging.page_size(args.get("limit")),
    )
    return ok(**page)


@bp.get("/participants/<int:participant_id>/export")
def export_participant(participant_id: int):
    """Everything stored about one participant (DSGVO Art. 15)."""

    participant_list.get_participant(current_customer_id(), participant_id)
    return ok(**export.export_participant(current_customer_id(), participant_id))


@bp.delete("/participants/<int:participant_id>")
def delete_participant(participant_id: int):
    """Erase one participant (DSGVO Art. 17); the anonymous aggregates stay."""

    participant_list.get_participant(current_customer_id(), participant_id)
    erasure.erase_participant(current_customer_id(), participant_id, f"user:{current_user.id}")
    return ok()


@bp.get("/conversions")
def conversions():
    args = request.args
    page = dashboard.list_conversions(
        current_customer_id(),
        since=args.get("since") or None,
        cursor=args.get("cursor") or None,
        limit=paging.page_size(args.get("limit"), default=100),
    )
    return ok(**page)


@bp.get("/daily-stats")
def daily_stats():
    days = dashboard.daily_stats(
        current_customer_id(), request.args.get("from"), request.args.get("to")
    )
    return ok(days=days)
