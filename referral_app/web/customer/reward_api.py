"""The customer API's reward fulfilment routes (API.md "Extensions"): a reward's code bank
and the grants (list, approve, reject). Ids of another customer's rewards or grants are
answered 404, like ids that do not exist."""

from __future__ import annotations

from flask import jsonify, request

from ...reporting import paging
from ...rewards import codes, fulfilment, grant_list, milestones
from ..access import current_customer_id
from ..schemas.base import check_query, parse_body
from ..schemas.queries import GrantQuery
from ..schemas.requests import GrantDecision, RewardCodes
from .api import bp, ok


@bp.post("/rewards/<int:reward_id>/codes")
def add_reward_codes(reward_id: int):
    """Body `codes`: a list of single-use codes; ones already in the bank are ignored."""
    milestone = milestones.get_milestone(current_customer_id(), reward_id)
    body = parse_body(RewardCodes)
    return ok(**codes.add_codes(milestone, body.code_list))


@bp.get("/reward-grants")
def reward_grants():
    check_query(GrantQuery, "status")
    args = request.args
    page = grant_list.list_grants(
        current_customer_id(),
        status=args.get("status") or None,
        cursor=args.get("cursor") or None,
        limit=paging.page_size(args.get("limit")),
    )
    return ok(**page)


def _status(status: str):
    """`{"ok": true, "status": …}` (`ok()` takes `status` as the HTTP status)."""
    return jsonify({"ok": True, "status": status})


@bp.post("/reward-grants/<int:grant_id>/approve")
def approve_grant(grant_id: int):
    statuses = fulfilment.approve(current_customer_id(), [grant_id])
    return _status(statuses[grant_id])


@bp.post("/reward-grants/<int:grant_id>/reject")
def reject_grant(grant_id: int):
    body = parse_body(GrantDecision)
    statuses = fulfilment.reject(current_customer_id(), [grant_id], body.reason)
    return _status(statuses[grant_id])
