"""Customer dashboard pages (HTMX): one template per page, fragments as blocks."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from ..access import guard_pages
from ..models import ROLE_CUSTOMER
from ..templating import render_page

bp = Blueprint("customer", __name__, url_prefix="/dashboard")
guard_pages(bp, ROLE_CUSTOMER)


@bp.get("/")
def overview():  # type: ignore[no-untyped-def]
    return render_page("customer/overview.html", customer=current_user.customer)
