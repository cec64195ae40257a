"""The admin JSON API (API.md "Admin API"): admin session or admin API key."""

from __future__ import annotations

from flask import Blueprint

from ..access import guard_api
from ..extensions import csrf
from ..models import ROLE_ADMIN

bp = Blueprint("admin_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)
guard_api(bp, ROLE_ADMIN)
