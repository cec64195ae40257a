"""The program's files and look, served by the app itself (no third party): the logo, the
freebie's image, the freebie download and the per-program stylesheet with its colours."""

from __future__ import annotations

from flask import Response
from flask_babel import gettext as _

from ...accounts import branding, uploads
from ...core.errors import NotFound
from ...tracking import owners
from .pages import bp

# Addresses carry a version (`?v=`), so a changed file is a new address.
CACHE = "public, max-age=86400"


def _file(code: str, kind: str, *, attachment: bool) -> Response:
    customer = owners.hosted_program(code)
    stored = uploads.get_file(customer.id, kind)
    if stored is None:
        raise NotFound(_("This file does not exist."))
    disposition = "attachment" if attachment else "inline"
    return Response(
        stored.data,
        content_type=stored.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{stored.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": CACHE,
        },
    )


@bp.get("/p/<code>/logo")
def logo(code: str):
    return _file(code, uploads.LOGO, attachment=False)


@bp.get("/p/<code>/freebie-image")
def freebie_image(code: str):
    return _file(code, uploads.FREEBIE_IMAGE, attachment=False)


@bp.get("/p/<code>/download")
def download(code: str):
    """The freebie file, as a download: also while the program is off (old links)."""
    return _file(code, uploads.FREEBIE, attachment=True)


@bp.get("/p/<code>/theme.css")
def theme(code: str):
    """The program's colours as CSS custom properties (the CSP forbids inline styles)."""
    customer = owners.hosted_program(code)
    return Response(
        branding.theme_css(customer),
        content_type="text/css; charset=utf-8",
        headers={"Cache-Control": CACHE},
    )
