"""Public API for the sign-up flow (register-lead, confirm-lead, program info): routes on the
public API blueprint, so CORS and rate limits apply to them as to tracking."""

from __future__ import annotations

from .api import bp  # noqa: F401 - routes are added to the public API blueprint
