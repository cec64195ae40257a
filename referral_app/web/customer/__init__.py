"""The customer's side: dashboard pages (`pages_bp`) and the customer JSON API (`api_bp`)."""

from . import webhooks  # noqa: F401 - its routes join the two blueprints below
from .api import bp as api_bp
from .pages import bp as pages_bp

__all__ = ["api_bp", "pages_bp"]
