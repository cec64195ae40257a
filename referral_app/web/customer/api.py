"""The customer JSON API (API.md "Customer API"): session login or Bearer API key.

Every route works on the signed-in customer's own data only: ids of another customer's
rows are answered 404, exactly like ids that do not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_login import current_user

from ...accounts import company, freebie, uploads
from ...core import readonly
from ...extensions import csrf
from ...models import ROLE_CUSTOMER
from ...participants import erasure, export
from ...reporting import dashboard, paging, participant_list
from ...reporting.dashboard import program_stats
from ...rewards import milestones
from .. import ratelimits
from ..access import current_customer_id, guard_api
from ..schemas.base import check_query, parse_body
from ..schemas.queries import ConversionQuery, DailyStatsQuery
from ..schemas.requests import (
    CompanyDetails,
    FreebieInput,
    RewardChange,
    RewardInput,
    RewardOrder,
    Toggle,
)
from ..uploads import checked, uploaded

bp = Blueprint("customer_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)  # the guard runs CSRF itself for session logins; API keys need none
guard_api(bp, ROLE_CUSTOMER)
ratelimits.customer_api(bp)  # per customer (RATELIMIT_CUSTOMER_API), 429 `rate_limited`
bp.after_request(readonly.remember_write)  # read-your-writes with a replica


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
    enabled = company.parse_bool(parse_body(Toggle).enabled)
    return ok(enabled=company.set_enabled(current_customer_id(), enabled))


def _base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"])


@bp.post("/update-company")
def update_company():
    """JSON, a form, or multipart with a `logo` file (PNG/JPEG/WebP, ≤ 512 KB); fields
    left out of the program details (privacy_url, time_zone, …) keep their value."""
    details = parse_body(CompanyDetails)
    saved = company.update_company(
        current_customer_id(),
        details.model_dump(exclude_unset=True),
        logo=uploaded("logo", uploads.LOGO),
        remove_logo=checked("remove_logo"),
        base_url=_base_url(),
    )
    return ok(company=saved)


@bp.get("/freebie")
def get_freebie():
    customer = company.get_customer(current_customer_id())
    return ok(freebie=freebie.freebie_dict(customer, _base_url()))


@bp.post("/freebie")
def set_freebie():
    """JSON, a form, or multipart with `file` (the download) and `image` files."""
    body = parse_body(FreebieInput)
    saved = freebie.update_freebie(
        current_customer_id(),
        body.model_dump(),
        file=uploaded("file", uploads.FREEBIE),
        image=uploaded("image", uploads.FREEBIE_IMAGE),
        remove_file=checked("remove_file"),
        remove_image=checked("remove_image"),
        base_url=_base_url(),
    )
    return ok(freebie=saved)


@bp.get("/rewards")
def rewards():
    items = milestones.list_milestones(current_customer_id())
    return ok(items=milestones.milestone_items(items))


@bp.post("/rewards")
def create_reward():
    reward = parse_body(RewardInput)
    milestone = milestones.create_milestone(current_customer_id(), reward.model_dump())
    return ok(201, id=milestone.id)


@bp.route("/rewards/<int:reward_id>", methods=["PATCH", "PUT"])
def update_reward(reward_id: int):
    change = parse_body(RewardChange)
    milestone = milestones.update_milestone(
        current_customer_id(), reward_id, change.model_dump(exclude_unset=True)
    )
    return ok(item=milestones.milestone_dict(milestone))


@bp.delete("/rewards/<int:reward_id>")
def delete_reward(reward_id: int):
    milestones.delete_milestone(current_customer_id(), reward_id)
    return ok()


@bp.post("/rewards/reorder")
def reorder_rewards():
    """Body `ids`: every reward id once, in the wanted order (lowest threshold first)."""
    order = parse_body(RewardOrder)
    items = milestones.reorder(current_customer_id(), order.ids)
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
    check_query(ConversionQuery, "since")
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
    check_query(DailyStatsQuery, "from", "to")
    days = dashboard.daily_stats(
        current_customer_id(), request.args.get("from"), request.args.get("to")
    )
    return ok(days=days)
