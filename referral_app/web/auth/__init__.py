"""Login, logout, the language switch, and the password pages (change, forgot, reset)."""

from . import login_pages, password_pages  # noqa: F401 - their routes join the blueprint
from .blueprint import MAX_EMAIL, bp, safe_next

__all__ = ["MAX_EMAIL", "bp", "safe_next"]
