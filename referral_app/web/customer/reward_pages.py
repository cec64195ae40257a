"""Dashboard: the reward milestones (add, edit, reorder, remove)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from ...core.errors import ValidationFailed
from ...rewards import milestones
from ..access import current_customer_id
from ..templating import render_page
from .pages import bp, done, form_data, fragment_request


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
    ladder = milestones.move(current_customer_id(), reward_id, request.form.get("direction", ""))
    moved = next(m for m in ladder if m.id == reward_id)
    return _reward_result(
        _(
            "Saved: “%(title)s” is now given at %(num)d referrals.",
            title=moved.title,
            num=moved.threshold,
        )
    )


@bp.post("/rewards/<int:reward_id>/delete")
def reward_delete(reward_id: int):
    milestones.delete_milestone(current_customer_id(), reward_id)
    return _reward_result(_("The reward is removed."))
