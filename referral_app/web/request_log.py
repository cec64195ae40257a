"""An access log without personal data: method, route pattern, status and duration.

Werkzeug's own request log (the development server) prints the client IP on every line, so
it is silenced; gunicorn's access log is off unless asked for (docs/deployment.md)."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from ..core.metrics import observe_request

log = logging.getLogger("referral_app.access")


def register(app: Flask) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.get("request_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        observe_request(request.endpoint, request.method, response.status_code, seconds)
        if not app.testing:
            # The URL rule (e.g. /hub/<token>), never the path: paths can carry tokens.
            rule = request.url_rule.rule if request.url_rule else "<unmatched>"
            log.info("%s %s %s %.1fms", request.method, rule, response.status_code, seconds * 1000)
        return response
