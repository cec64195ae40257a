"""Pages for visitors and participants: hosted freebie / thank-you pages, the hub."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__)
