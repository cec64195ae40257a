"""Pages of a list: opaque cursors (keyset paging on ids, never OFFSET) and page sizes."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..core.errors import ValidationFailed

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def encode_cursor(last_id: int) -> str:
    """An opaque cursor: the last id of the page, encoded (clients must not build them)."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "id":
            raise ValueError(raw)
        value = int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            str(_l("This cursor is not valid.")),
            code="invalid_cursor",
            fields={"cursor": str(_l("invalid"))},
        ) from exc
    return value


def page_size(raw: Any, default: int = PAGE_SIZE) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationFailed(
            str(_l("Ask for 1 to %(n)d entries per page.", n=MAX_PAGE_SIZE)),
            code="invalid_limit",
            fields={"limit": str(_l("1 to %(n)d", n=MAX_PAGE_SIZE))},
        )
    return value


# How a message names a number a person typed or a link carried (never its parameter).
FIELD_WORDS = {
    "customer_id": _l("The customer number"),
    "user_id": _l("The user number"),
    "target_id": _l("The object number"),
    "page": _l("The page number"),
    "days": _l("The number of days"),
    "ids": _l("Each entry number"),
}


def parse_positive_int(raw: Any, field: str, *, default: int | None = None) -> int | None:
    """An id or page number from a query string; 400 (`validation_failed`) when it is not
    a positive integer, `default` when it is absent."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 12 or int(text) < 1:
        what = FIELD_WORDS.get(field)
        message = (
            _("%(what)s must be a positive whole number.", what=what)
            if what
            else _("Please enter a positive whole number.")
        )
        raise ValidationFailed(message, fields={field: message})
    return int(text)
