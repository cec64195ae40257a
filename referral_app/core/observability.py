"""Errors to Sentry when SENTRY_DSN is set, with personal data scrubbed before sending."""

from __future__ import annotations

import os
import re
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_SECRET_HEADERS = {
    "authorization",
    "cookie",
    "x-forwarded-for",
    "x-real-ip",
    "user-agent",
    "x-csrftoken",
    "x-csrf-token",
}


def _scrub_text(value: str) -> str:
    return _IPV4.sub("[ip]", _EMAIL.sub("[email]", value))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, dict):
        return {
            k: ("[scrubbed]" if str(k).lower() in _SECRET_HEADERS else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """No IP, user agent, e-mail address, cookie or token leaves the server."""
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
        request.pop("query_string", None)
        request.pop("env", None)
        if "headers" in request:
            request["headers"] = _scrub(request["headers"])
        if "url" in request:
            request["url"] = _scrub_text(str(request["url"]))
    for key in ("message", "logentry", "exception", "breadcrumbs", "extra"):
        if key in event:
            event[key] = _scrub(event[key])
    return event


def init_sentry() -> bool:
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        send_default_pii=False,
        before_send=before_send,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
        environment=os.environ.get("APP_ENV", "development"),
    )
    return True
