"""Dashboard reads on a read replica (`DATABASE_REPLICA_URL`); everything else on the primary.

Design. The replica is a Flask-SQLAlchemy bind (`SQLALCHEMY_BINDS["replica"]`), so its engine
is made by the extension with the primary's engine options (pre-ping, recycle) and no
connection is opened at start-up. No model is bound to it: `db.session` keeps every query,
write and transaction on the primary. Reads that may lag the primary by a moment call
`session()` instead of `db.session`; it gives them a separate, read-only `Session` on the
replica engine, one per app context (request), closed at teardown. A separate session, not
a routing `get_bind`: an object read from the replica never lands in the primary session's
identity map, so a write can never start from a stale row.

Which reads are routed is decided in the services, per function: the aggregates and lists
the dashboards show (customer stats panel, chart, participant list and CSV, the admin
overview, customer list and CSV exports). The tracking hot path, logins, every write and
the reads a write depends on stay on `db.session`. A program's own state (on/off,
suspended) is always read from the primary, even on a dashboard, so a switch shows at once.

`session()` answers with the primary (`db.session`) instead when:
- no replica is configured (the default: everything on the primary, as before);
- the signed-in user wrote something within `DATABASE_REPLICA_STICKY_SECONDS` (a timestamp
  in their session cookie, set by `remember_write` on the dashboards' blueprints): the page
  after a form POST shows their own change even while the replica lags (read-your-writes);
- the replica did not answer: a warning is logged once, and for
  `DATABASE_REPLICA_RETRY_SECONDS` this process sends dashboard reads to the primary
  without trying again (a dead replica costs one connect attempt per period, not one per
  page). `/healthz` probes it and closes that window as soon as it answers again.

The replica connections are read-only (`SET SESSION TRANSACTION READ ONLY` on MariaDB/MySQL,
`PRAGMA query_only` on SQLite) and the session refuses to flush: a mistaken write fails
loudly instead of going to the wrong database.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from flask import session as cookie_session
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

from ..extensions import db

BIND = "replica"
STICKY_KEY = "primary_until"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_G_KEY = "replica_session"

log = logging.getLogger("referral_app.replica")

# What `session()` hands out: the replica's own session or the primary's scoped one.
Reader = Session | scoped_session[Session]


class ReplicaSession(Session):
    """A session on the replica engine that only reads."""


@event.listens_for(ReplicaSession, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    raise RuntimeError("the replica session is read-only; write through db.session")


def configured(app: Flask | None = None) -> bool:
    return BIND in ((app or current_app).config.get("SQLALCHEMY_BINDS") or {})


def engine() -> Engine:
    return db.engines[BIND]


def init_app(app: Flask) -> None:
    """Make the replica's connections read-only and close its session after each request.
    Nothing connects here (DESIGN: no database work at start-up)."""
    app.extensions["replica"] = {"down_until": 0.0}
    if not configured(app):
        return
    with app.app_context():
        replica = engine()
    statement = (
        "PRAGMA query_only=ON"
        if replica.dialect.name == "sqlite"
        else "SET SESSION TRANSACTION READ ONLY"
    )

    def read_only(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()

    event.listen(replica, "connect", read_only)
    app.teardown_appcontext(_close)


def _close(_exc: BaseException | None) -> None:
    chosen = g.pop(_G_KEY, None)
    if isinstance(chosen, ReplicaSession):
        chosen.close()


def session() -> Reader:
    """The session for a dashboard read that may lag the primary by a moment: the replica's
    when one is configured, answering, and the user has not just written; else db.session.
    Chosen once per app context, so one page never mixes the two."""
    if not configured():
        return db.session
    chosen = g.get(_G_KEY)
    if chosen is None:
        chosen = _choose()
        setattr(g, _G_KEY, chosen)
    return chosen


def _choose() -> Reader:
    if has_request_context() and _wrote_recently():
        return db.session
    state = current_app.extensions["replica"]
    if time.monotonic() < state["down_until"]:
        return db.session
    replica = ReplicaSession(bind=engine(), autoflush=False, expire_on_commit=False)
    try:
        replica.connection()  # checks out (and pre-pings) a connection now, not mid-page
    except SQLAlchemyError as exc:  # refused, timed out, no such database, pool exhausted
        replica.close()
        mark_down(exc)
        return db.session
    return replica


def _wrote_recently() -> bool:
    # As the request arrived: a streamed export's reads run after `remember_write` below.
    until = g.get("replica_sticky_until", cookie_session.get(STICKY_KEY))
    return isinstance(until, int | float) and until > time.time()


def mark_down(exc: BaseException) -> None:
    """The replica failed: dashboards read from the primary for the retry period."""
    seconds = current_app.config.get("DATABASE_REPLICA_RETRY_SECONDS", 30)
    current_app.extensions["replica"]["down_until"] = time.monotonic() + seconds
    log.warning(
        "read replica unreachable (%s); dashboard reads use the primary for %ss",
        type(exc).__name__,
        seconds,
    )


def probe() -> str:
    """`/healthz`'s check: "ok" (and dashboards may use it again at once) or "unreachable"."""
    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:  # refused, timed out, no such database, pool exhausted
        if time.monotonic() >= current_app.extensions["replica"]["down_until"]:
            mark_down(exc)
        return "unreachable"
    current_app.extensions["replica"]["down_until"] = 0.0
    return "ok"


def remember_write(response: Response) -> Response:
    """After a successful write by a signed-in session user, send their reads to the primary
    for `DATABASE_REPLICA_STICKY_SECONDS`, so the next page shows what they just changed.
    Attached to the dashboards' blueprints only (never the tracking API); API-key clients
    have no session to carry it and read with the replica's lag (docs/deployment.md)."""
    seconds = current_app.config.get("DATABASE_REPLICA_STICKY_SECONDS", 5)
    if (
        configured()
        and seconds > 0
        and request.method not in SAFE_METHODS
        and response.status_code < 400
        and not g.get("auth_via_api_key")
    ):
        g.replica_sticky_until = cookie_session.get(STICKY_KEY)
        cookie_session[STICKY_KEY] = round(time.time() + seconds, 1)
    return response
