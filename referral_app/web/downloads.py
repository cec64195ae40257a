"""Answers the dashboards hand out that no cache may keep: files (streamed, named with the
day) and pages or JSON with a secret or personal data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from flask import Response, stream_with_context
from flask_babel import get_locale
from flask_babel import gettext as _

from ..core import csvfile
from ..core.errors import ValidationFailed
from ..models import utcnow


def no_store(response: Response) -> Response:
    """Answers that carry a secret or personal data are kept by no cache (browser history,
    proxies)."""
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_response(chunks: Iterator[str], name: str) -> Response:
    """A streamed CSV attachment; the body is produced batch by batch as it is sent."""
    filename = f"{name}-{utcnow():%Y-%m-%d}.csv"
    encoded = (chunk.encode("utf-8") for chunk in chunks)
    return Response(
        stream_with_context(encoded),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def csv_format(
    values: Mapping[str, str], *, zone: str | None = None, default: str | None = None
) -> csvfile.CsvFormat:
    """The CSV format a request asks for: `format=de|plain`, `zone=` (admin exports) and
    `bom=0`. Pages default to the German format for a German user, the API to `plain`.
    A bad value is a 400 that names the choice in words, not the parameter."""
    if default is None:
        default = "de" if str(get_locale() or "de").startswith("de") else "plain"
    bom = None if values.get("bom") in (None, "") else values.get("bom") not in ("0", "false")
    try:
        return csvfile.choose(
            values.get("format") or default, zone=values.get("zone") or zone, bom=bom
        )
    except ValueError:
        message = _("Please choose a CSV format (German Excel or plain) and a valid time zone.")
        raise ValidationFailed(message, code="invalid_format", fields={"format": message}) from None
