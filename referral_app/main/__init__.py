"""The front door: `/` and `/healthz`."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from ..extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.is_admin:
        return redirect(url_for("admin.overview"))
    return redirect(url_for("customer.overview"))


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    checks: dict[str, str] = {}
    healthy = True
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        db.session.rollback()
        checks["database"] = "unreachable"
        healthy = False
    if current_app.config.get("REDIS_URL"):
        from ..redis_conn import get_redis

        try:
            get_redis().ping()
            checks["redis"] = "ok"
        except Exception:  # noqa: BLE001
            checks["redis"] = "unreachable"
            healthy = False
    response = jsonify({"ok": healthy, "checks": checks})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
