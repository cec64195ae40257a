"""Dashboard: the reward milestones (add, edit, reorder, remove), a code reward's code bank
(paste or CSV upload) and a download reward's file."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _

from ...accounts import uploads
from ...core.errors import ValidationFailed
from ...extensions import db
from ...models.reward import CODE, DOWNLOAD
from ...rewards import codes, milestones, reward_view
from ..access import current_customer_id
from ..templating import render_page
from ..uploads import uploaded
from .pages import bp, done, form_data, fragment_request


def _rewards_page(message: str | None = None, **extra: Any):
    failed = ("errors", "edit_errors", "code_errors", "file_errors")
    status = 422 if any(extra.get(name) for name in failed) else 200
    items = milestones.list_milestones(current_customer_id())
    context = {
        "items": items,
        "stocks": codes.stocks([m.id for m in items if m.kind == CODE]),
        "files": uploads.files_of(current_customer_id()),
        "code_errors": {},
        "file_errors": {},
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


@bp.post("/rewards/<int:reward_id>/codes")
def reward_codes(reward_id: int):
    """Codes pasted (one per line) and/or a CSV file (first column)."""
    milestone = milestones.get_milestone(current_customer_id(), reward_id)
    text = request.form.get("codes", "")
    storage = request.files.get("codes_file")
    if storage is not None and storage.filename:
        raw = storage.stream.read(codes.MAX_CSV_BYTES + 1)
        if len(raw) > codes.MAX_CSV_BYTES:
            message = _("The file is too large (at most %(size)s).", size="2 MB")
            return _rewards_page(code_errors={reward_id: message})
        text += "\n" + raw.decode("utf-8", errors="replace")
    try:
        result = codes.add_codes(milestone, codes.parse_codes(text))
    except ValidationFailed as exc:
        return _rewards_page(code_errors={reward_id: (exc.fields or {}).get("codes", exc.message)})
    return _reward_result(
        _(
            "%(added)d codes added; %(available)d available.",
            added=result["added"],
            available=result["available"],
        )
    )


@bp.post("/rewards/<int:reward_id>/file")
def reward_file(reward_id: int):
    """The file a download reward hands out (same types and size as the freebie)."""
    milestone = milestones.get_milestone(current_customer_id(), reward_id)
    upload = uploaded("file", uploads.FREEBIE)
    if milestone.kind != DOWNLOAD:
        return _rewards_page(file_errors={reward_id: _("This reward is not a download.")})
    if upload is None:
        return _rewards_page(file_errors={reward_id: _("Please choose a file.")})
    content_type, error = uploads.check(uploads.FREEBIE, upload)
    if error:
        return _rewards_page(file_errors={reward_id: error})
    uploads.store(milestone.customer_id, reward_view.file_kind(milestone.id), upload, content_type)
    db.session.commit()
    return _reward_result(_("The file is saved."))
