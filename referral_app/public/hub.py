"""The participant's hub and the pages linked from e-mails."""

from __future__ import annotations

from .pages import bp  # noqa: F401 - routes are added to the public pages blueprint
