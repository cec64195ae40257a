"""Engine settings that SQLAlchemy's URL can't express: SQLite's WAL and busy timeout, and
the read replica's read-only connections (core/readonly.py).

Several gunicorn workers writing to one SQLite file must wait for each other rather than
fail with "database is locked" (DESIGN.md "Runs on one laptop").
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..extensions import db
from . import readonly


def init_app(app: Flask) -> None:

    readonly.init_app(app)  # the read replica's engine, when DATABASE_REPLICA_URL is set
    with app.app_context():
        engines = list(db.engines.values())
        engine = db.engine
    if app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_reset_on_return", "rollback") is None:
        for each in engines:
            _reset_only_when_needed(each)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def _reset_only_when_needed(engine: Engine) -> None:
    """The pool's reset-on-return, minus the ROLLBACK after a transaction that was already
    committed or rolled back: every request (every tracked click) ends with a COMMIT, and the
    pool's own rollback after it was one more round trip for nothing. A connection whose
    transaction may still be open (begun and not ended, an error, anything unknown) is rolled
    back as before. Needs `pool_reset_on_return=None` (config.py), which hands the reset to
    this listener."""
    event.listen(engine, "begin", _mark_open)
    event.listen(engine, "handle_error", _mark_error)
    event.listen(engine, "commit", _mark_ended)
    event.listen(engine, "rollback", _mark_ended)
    event.listen(engine, "reset", _reset)


_ENDED = "referral_transaction_ended"


def _mark_open(connection) -> None:
    connection.info[_ENDED] = False


def _mark_ended(connection) -> None:
    connection.info[_ENDED] = True


def _mark_error(context) -> None:
    # A failed statement (a failed COMMIT included): whatever its state, roll back on return.
    connection = context.connection
    if connection is not None and not connection.closed:
        connection.info[_ENDED] = False


def _reset(dbapi_connection, record, state) -> None:
    ended = record.info.pop(_ENDED, False)
    if state.terminate_only or state.transaction_was_reset or ended:
        return
    dbapi_connection.rollback()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    """BEGIN, or BEGIN IMMEDIATE for a unit of work that `begin_write` marked: a deferred
    transaction that reads and then writes fails at once with "database is locked" when
    another worker committed in between; an immediate one waits for the busy timeout."""
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_mysql(engine: Engine | None = None) -> bool:
    return (engine or db.engine).dialect.name in {"mysql", "mariadb"}
