"""Who may keep an answer: nobody, unless it is public by design (issue 14, item 10).

Every response gets `Cache-Control: no-store` unless its endpoint is in `PUBLIC` (the same
for every visitor, no personal data: static files and the tracking script, the hosted
program pages and their files, the API description) or its view chose a policy itself
(the dashboard's live panel revalidates with its ETag, `private, no-cache`; the QR code of
the public program link). So dashboards, the admin area, every `/api/` answer, downloads
and the participants' pages are kept by no browser history, disk cache or proxy, and a page
added later is private until someone decides otherwise here.
"""

from __future__ import annotations

from flask import Flask, Response, request

# The same for everybody and free of personal data; their own caching headers stay.
PUBLIC = frozenset(
    {
        "static",
        "main.favicon",
        "main.openapi_json",
        "main.api_docs",
        "public.freebie",
        "public.thankyou",
        "public.imprint",
        "public.logo",
        "public.freebie_image",
        "public.download",
        "public.theme",
    }
)


def keep_private(response: Response) -> Response:
    if request.endpoint in PUBLIC or "Cache-Control" in response.headers:
        return response
    response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(keep_private)
