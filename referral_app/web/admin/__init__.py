"""The admin side: pages (`pages_bp`) and the admin JSON API (`api_bp`)."""

from .api import bp as api_bp
from .pages import bp as pages_bp

__all__ = ["api_bp", "pages_bp"]
