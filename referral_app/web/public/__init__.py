"""The public side: the tracking API (`api_bp`, no auth, CORS open) and the pages visitors
and participants see (`pages_bp`: hosted freebie pages, the participant hub)."""

from . import hub, leads, program_files, reward_files  # noqa: F401 - their routes join the two blueprints below
from .api import bp as api_bp
from .pages import bp as pages_bp

__all__ = ["api_bp", "pages_bp"]
