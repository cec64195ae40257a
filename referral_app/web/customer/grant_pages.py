"""Dashboard: the rewards participants earned, by status, and the approval queue: approve
or reject (with a reason the participant sees) one or many at once. Every form works
without JavaScript (POST-redirect-GET); with htmx the list block is swapped in place."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from ...core.errors import DomainError
from ...reporting import paging
from ...rewards import fulfilment, grant_list
from ..access import current_customer_id
from ..templating import render_page
from .pages import bp, done, fragment_request

STATUSES = ("pending", "approved", "delivered", "revoked")


def _status() -> str:
    status = request.values.get("status") or "pending"
    return status if status in STATUSES else "pending"


def _grants_page(message: str | None = None, error: str | None = None, **extra: Any):
    status = _status()
    cursor = request.args.get("cursor") or None
    try:
        page = grant_list.list_grants(
            current_customer_id(), status=status, cursor=cursor, with_people=True
        )
    except DomainError as exc:
        page, error = {"items": [], "next_cursor": None}, exc.message
    context = {
        "page": page,
        "status": status,
        "statuses": STATUSES,
        "counts": grant_list.open_counts(current_customer_id()),
        "message": message,
        "error": error,
        "cursor": cursor,
        "reason": "",
        **extra,
    }
    code = 422 if error and request.method == "POST" else 200
    return render_page("customer/reward_grants.html", block="grant_list", **context), code


@bp.get("/rewards/grants")
def reward_grants():
    return _grants_page()


@bp.post("/rewards/grants")
def reward_grants_decide():
    """Body: `ids` (the ticked grants), `action` (approve or reject), `reason` (to reject)."""
    raw_ids = request.form.getlist("ids")
    action = request.form.get("action")
    reason = request.form.get("reason", "")
    try:
        ids = [paging.parse_positive_int(raw, "ids") for raw in raw_ids]
        if action == "reject":
            statuses = fulfilment.reject(current_customer_id(), ids, reason)
        elif action == "approve":
            statuses = fulfilment.approve(current_customer_id(), ids)
        else:
            return _grants_page(error=_("Choose approve or reject."))
    except DomainError as exc:
        message = next(iter((exc.fields or {}).values()), exc.message)
        return _grants_page(error=message, reason=reason)
    if action == "reject":
        message = _("%(n)d rewards rejected.", n=sum(s == "revoked" for s in statuses.values()))
    else:
        done_now = sum(s == "delivered" for s in statuses.values())
        message = _(
            "%(n)d rewards approved, %(d)d of them delivered now.", n=len(statuses), d=done_now
        )
    if fragment_request():
        return _grants_page(message)
    return done(message, "customer.reward_grants", status=_status())
