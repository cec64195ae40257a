"""File uploads on the few routes that take them (logo, freebie): the request size limit is
raised for those routes only (the app's MAX_CONTENT_LENGTH stays small everywhere else), and
a file field is read into the domain's `Upload`, at most one byte past its limit."""

from __future__ import annotations

from flask import Flask, request

from ..accounts import uploads
from ..rewards import codes

# endpoint → the largest body it takes
UPLOAD_ROUTES = {
    "customer.company": uploads.MAX_BYTES[uploads.LOGO] + 256 * 1024,
    "customer_api.update_company": uploads.MAX_BYTES[uploads.LOGO] + 256 * 1024,
    "customer.freebie": uploads.MAX_REQUEST_BYTES,
    "customer_api.set_freebie": uploads.MAX_REQUEST_BYTES,
    "customer.reward_file": uploads.MAX_BYTES[uploads.FREEBIE] + 256 * 1024,
    "customer.reward_codes": codes.MAX_CSV_BYTES + 256 * 1024,
}


def init_app(app: Flask) -> None:
    """Registered before CSRFProtect, whose check reads the form (and so the body) first."""

    @app.before_request
    def allow_uploads() -> None:
        limit = UPLOAD_ROUTES.get(request.endpoint or "")
        if limit and request.method == "POST":
            request.max_content_length = limit


def uploaded(name: str, kind: str) -> uploads.Upload | None:
    """The file sent in field `name`, or None when none was chosen."""
    storage = request.files.get(name)
    if storage is None or not storage.filename:
        return None
    data = storage.stream.read(uploads.MAX_BYTES[kind] + 1)
    return uploads.Upload(filename=storage.filename, data=data)


def checked(name: str) -> bool:
    """A checkbox (`remove_logo`) or a JSON true."""
    return request.form.get(name) in ("1", "on", "true", "yes")
