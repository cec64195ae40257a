"""The public API (API.md "Public API"): called from any page by referral-tracking.js."""

from __future__ import annotations

from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("public_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)
