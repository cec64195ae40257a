"""The auth blueprint and what its pages share."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint

MAX_EMAIL = 254  # RFC 5321: no longer address exists

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a local path: `//evil.example` or `https://…` would be an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers drop tabs and line breaks in URLs ("/\t/evil.example" is "//evil.example").
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target
