"""Answers the dashboards hand out that no cache may keep: files (streamed, named with the
day) and pages or JSON with a secret or personal data."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, stream_with_context

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
