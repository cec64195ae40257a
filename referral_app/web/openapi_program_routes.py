"""The OpenAPI table's entries for the program's details beyond the company form: its
freebie (what the hosted pages hand out). `openapi.py` joins them to `openapi_routes.ROUTES`."""

from __future__ import annotations

from .openapi_routes import CUSTOMER, P, Route
from .schemas import requests, responses

PROGRAM_ROUTES: list[Route] = [
    Route(
        "GET",
        f"{P}/freebie",
        "The program's freebie (what the thank-you page delivers)",
        CUSTOMER,
        answer=responses.FreebieAnswer,
    ),
    Route(
        "POST",
        f"{P}/freebie",
        "Set the freebie: title, text, and the address the thank-you page sends visitors to",
        CUSTOMER,
        body=requests.FreebieInput,
        answer=responses.FreebieAnswer,
        errors={400: "validation_failed (with `fields`)", 413: "payload_too_large"},
        description="JSON or a form; multipart with `file` (the download: PDF, ZIP, EPUB, "
        "MP3, MP4 or an image, at most 10 MB) and `image` (PNG/JPEG/WebP, at most 1 MB) files. "
        "`url` is required unless a file was uploaded. `remove_file` / `remove_image` drop them.",
    ),
]
