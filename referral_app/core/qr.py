"""QR codes of referral links (segno: SVG and PNG without an image library), made one way
for the hub, the dashboard's embed page and its downloads."""

from __future__ import annotations

import io

import segno
from markupsafe import Markup

ERROR_LEVEL = "m"  # survives a smudged print-out of a flyer


def inline_svg(link: str, scale: int = 4) -> Markup:
    """An <svg> element to put into a page (segno's own markup of our URL)."""
    return Markup(segno.make(link, error=ERROR_LEVEL).svg_inline(scale=scale))  # noqa: S704


def image(link: str, kind: str) -> tuple[bytes, str]:
    """The code as a file: (bytes, mimetype); `kind` is "svg" or "png"."""
    qr = segno.make(link, error=ERROR_LEVEL)
    buffer = io.BytesIO()
    if kind == "svg":
        qr.save(buffer, kind="svg", scale=6, border=2, xmldecl=False, title=link)
        return buffer.getvalue(), "image/svg+xml"
    qr.save(buffer, kind="png", scale=10, border=2)
    return buffer.getvalue(), "image/png"
