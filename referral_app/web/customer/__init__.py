"""The customer's side: dashboard pages (`pages_bp`) and the customer JSON API (`api_bp`).

The pages blueprint lives in `pages` (overview, live panel, program switch); each other area
of the dashboard is a module that adds its routes to it (or to the API blueprint), imported
here so they register."""

from . import (  # noqa: F401 - their routes join the two blueprints below
    company_pages,
    embed_pages,
    freebie_pages,
    grant_pages,
    participant_pages,
    reward_api,
    reward_pages,
    webhook_api,
    webhooks,
)
from .api import bp as api_bp
from .pages import bp as pages_bp

__all__ = ["api_bp", "pages_bp"]
