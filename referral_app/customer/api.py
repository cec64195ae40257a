"""The customer JSON API (API.md "Customer API"): session login or Bearer API key."""

from __future__ import annotations

from flask import Blueprint

from ..access import guard_api
from ..extensions import csrf
from ..models import ROLE_CUSTOMER

bp = Blueprint("customer_api", __name__, url_prefix="/api/referral")
csrf.exempt(bp)  # the guard runs CSRF itself for session logins; API keys need none
guard_api(bp, ROLE_CUSTOMER)
