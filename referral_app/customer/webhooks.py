"""Webhook endpoints in the customer dashboard and the customer API."""

from __future__ import annotations

from .api import bp as api_bp  # noqa: F401 - routes join the customer API blueprint
from .pages import bp as pages_bp  # noqa: F401 - and the customer pages blueprint
