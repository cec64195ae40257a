"""Dashboard: the participant list, its CSV, the Art. 15 export and erasure."""

from __future__ import annotations

import json

from flask import Response, request
from flask_babel import gettext as _
from flask_login import current_user

from ...core import csvfile
from ...core.errors import ValidationFailed
from ...participants import erasure, export
from ...reporting import participant_list, participant_search, why_not_counted
from ..access import current_customer_id
from ..downloads import csv_format, csv_response
from ..templating import render_page, viewer_zone
from .pages import bp, done


def _participant_filters() -> dict[str, str | None]:
    return {
        "status": request.args.get("status") or None,
        "q": (request.args.get("q") or "").strip() or None,
    }


@bp.get("/participants")
def participants():
    filters = _participant_filters()
    error = None
    try:
        page = participant_list.list_participants(
            current_customer_id(), cursor=request.args.get("cursor") or None, **filters
        )
    except ValidationFailed as exc:
        page, error = {"items": [], "next_cursor": None}, exc.message
    answer = render_page(
        "customer/participants.html",
        block="participant_list",
        page=page,
        filters=filters,
        error=error,
        statuses=participant_list.PARTICIPANT_STATUSES,
        status_labels=why_not_counted.STATUS_LABELS,
        first_page=not request.args.get("cursor"),
        scan_limit=participant_search.SCAN_LIMIT,
    )
    return answer, (400 if error else 200)


@bp.get("/participants.csv")
def participants_csv():
    """Every participant matching the list's filters, streamed (no page size limit)."""
    customer_id = current_customer_id()
    filters = _participant_filters()
    try:
        fmt = csv_format(request.args, zone=viewer_zone())
        rows = participant_list.participants_csv_rows(customer_id, **filters)
    except ValidationFailed as exc:
        return render_page(
            "customer/participants.html",
            page={"items": [], "next_cursor": None},
            filters=filters,
            error=exc.message,
            statuses=participant_list.PARTICIPANT_STATUSES,
            status_labels=why_not_counted.STATUS_LABELS,
            first_page=True,
        ), 400
    return csv_response(csvfile.stream(rows, fmt=fmt), "participants")


@bp.get("/participants/<int:participant_id>/export.json")
def participant_export(participant_id: int):
    """One participant's data as a file (DSGVO Art. 15), for the customer to hand over."""

    customer_id = current_customer_id()
    participant_list.get_participant(customer_id, participant_id)
    data = {"ok": True, **export.export_participant(customer_id, participant_id)}
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=participant-{participant_id}.json"},
    )


@bp.route("/participants/<int:participant_id>/delete", methods=["GET", "POST"])
def participant_delete(participant_id: int):
    """A confirmation page first (works without JavaScript), then the erasure (Art. 17)."""
    customer_id = current_customer_id()
    participant = participant_list.get_participant(customer_id, participant_id)
    if request.method == "GET":
        return render_page("customer/participant_delete.html", participant=participant)

    erasure.erase_participant(customer_id, participant_id, f"user:{current_user.id}")
    return done(_("The participant's data is deleted."), "customer.participants")
