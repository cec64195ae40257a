"""The front door: `/`, `/favicon.ico`, `/healthz` and the API documentation
(`/api/openapi.json`, `/api/docs`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import current_user
from sqlalchemy import text
from werkzeug.routing import IntegerConverter, Map

from ...core import readonly
from ...core.redis_conn import get_redis
from ...extensions import db
from .. import openapi

bp = Blueprint("main", __name__)

MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` everywhere: a number above a signed 64-bit id does not match the route, so
    it is a 404 and never a database error (SQLite raises OverflowError past 2**63 - 1)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


@bp.record_once
def bounded_ids(state: BlueprintSetupState) -> None:
    """The main blueprint is registered first, so every later route's `<int:…>` uses it."""
    state.app.url_map.converters["int"] = IdConverter


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_admin:
        return redirect(url_for("admin.overview"))
    return redirect(url_for("customer.overview"))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico by themselves on every page; the layouts link the SVG."""
    return current_app.send_static_file("favicon.ico")


@bp.get("/healthz")
def healthz():
    """200 when the database (and Redis, when configured) answer; 503 otherwise. A read
    replica that does not answer leaves the app healthy (dashboards read from the primary
    then) and is reported as `degraded`."""
    checks: dict[str, str] = {}
    healthy = True
    degraded = False
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        db.session.rollback()
        checks["database"] = "unreachable"
        healthy = False
    if current_app.config.get("REDIS_URL"):
        try:
            get_redis().ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "unreachable"
            healthy = False
    if readonly.configured():
        checks["replica"] = readonly.probe()
        degraded = checks["replica"] != "ok"
    response = jsonify({"ok": healthy, "degraded": degraded, "checks": checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/openapi.json")
def openapi_json():
    """The OpenAPI 3 document, built from the routes this app serves."""

    response = jsonify(openapi.build(current_app))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/api/docs")
def api_docs():
    """The same document as a readable page, rendered here (no Swagger UI from a CDN)."""

    document = openapi.build(current_app)
    return render_template("api_docs.html", doc=document, sections=openapi.sections(document))
