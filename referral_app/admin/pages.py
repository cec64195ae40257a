"""Admin pages (HTMX): every program at a glance."""

from __future__ import annotations

from flask import Blueprint

from ..access import guard_pages
from ..models import ROLE_ADMIN
from ..templating import render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_pages(bp, ROLE_ADMIN)


@bp.get("/")
def overview():  # type: ignore[no-untyped-def]
    return render_page("admin/overview.html")
