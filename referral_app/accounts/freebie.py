"""The program's freebie: what the hosted freebie page shows (title, text, an image) and what
the thank-you page delivers (a file the app serves, or the customer's own address).

The confirmation mail never carries it (DESIGN.md: no advertising in the double opt-in
mail); the thank-you page gives it to every visitor, signed up or not.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from ..core.errors import ValidationFailed
from ..extensions import db
from ..models import Customer
from . import uploads
from .company import get_customer, web_address_ok

# (field, required, max length)
FREEBIE_FIELDS = (
    ("title", True, 200),
    ("description", False, 5000),
    ("url", False, 500),
)
COLUMNS = {"title": "freebie_title", "description": "freebie_description", "url": "freebie_url"}


def freebie_dict(customer: Customer, base_url: str = "") -> dict[str, Any]:
    """The freebie as the API answers it and the pages show it. `ready`: there is something
    to hand out (a title and a file or an address)."""
    files = uploads.files_of(customer.id)
    base = f"{base_url.rstrip('/')}/p/{customer.ref_code}"
    file = files.get(uploads.FREEBIE)
    image = files.get(uploads.FREEBIE_IMAGE)
    return {
        "title": customer.freebie_title,
        "description": customer.freebie_description,
        "url": customer.freebie_url,
        "file": (
            {k: file[k] for k in ("filename", "content_type", "size")}
            | {"download_url": f"{base}/download?v={file['version']}"}
            if file
            else None
        ),
        "image_url": f"{base}/freebie-image?v={image['version']}" if image else None,
        "ready": bool(customer.freebie_title and (file or customer.freebie_url)),
    }


def validate_freebie(
    data: dict[str, Any],
    file: uploads.Upload | None = None,
    image: uploads.Upload | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean values, field → message), never raising: every problem at once."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, required, limit in FREEBIE_FIELDS:
        raw = data.get(name)
        value = raw.strip() if isinstance(raw, str) else ("" if raw is None else None)
        if value is None:
            errors[name] = str(_l("Please enter text."))
            continue
        if required and not value:
            errors[name] = str(_l("This field is required."))
        elif len(value) > limit:
            errors[name] = str(_l("At most %(n)d characters.", n=limit))
        clean[name] = value.replace("\r\n", "\n") or None
    url = clean.get("url")
    if url and "url" not in errors:
        if "://" not in url:
            url = "https://" + url
        if not web_address_ok(url):
            errors["url"] = str(_l("Please enter a web address like https://example.com."))
        clean["url"] = url
    for name, kind, upload in (
        ("file", uploads.FREEBIE, file),
        ("image", uploads.FREEBIE_IMAGE, image),
    ):
        if upload is not None:
            clean[name], problem = uploads.check(kind, upload)
            if problem:
                errors[name] = problem
    return clean, errors


def update_freebie(
    customer_id: int,
    data: dict[str, Any],
    *,
    file: uploads.Upload | None = None,
    image: uploads.Upload | None = None,
    remove_file: bool = False,
    remove_image: bool = False,
    base_url: str = "",
) -> dict[str, Any]:
    """Validate and save, files included: all or nothing. A freebie needs a file to download
    or an address to send the visitor to. Raises ValidationFailed. Commits."""
    customer = get_customer(customer_id)
    clean, errors = validate_freebie(data, file, image)
    has_file = file is not None or (
        not remove_file and uploads.get_file(customer_id, uploads.FREEBIE) is not None
    )
    if not clean.get("url") and not has_file and "url" not in errors and "file" not in errors:
        errors["url"] = str(_l("Upload a file or enter the address of your freebie."))
    if errors:
        raise ValidationFailed(str(_l("Please check the highlighted fields.")), fields=errors)
    for name, column in COLUMNS.items():
        setattr(customer, column, clean[name])
    for upload, kind, remove, content_type in (
        (file, uploads.FREEBIE, remove_file, clean.get("file")),
        (image, uploads.FREEBIE_IMAGE, remove_image, clean.get("image")),
    ):
        if upload is not None:
            uploads.store(customer_id, kind, upload, content_type)
        elif remove:
            uploads.remove(customer_id, kind)
    db.session.commit()
    return freebie_dict(customer, base_url)
