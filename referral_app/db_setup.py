"""Engine settings that SQLAlchemy's URL can't express: SQLite's WAL and busy timeout, and
the read replica's read-only connections (services/readonly.py).

Several gunicorn workers writing to one SQLite file must wait for each other rather than
fail with "database is locked" (DESIGN.md "Runs on one laptop").
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from .extensions import db


def init_app(app: Flask) -> None:
    from .services import readonly

    readonly.init_app(app)  # the read replica's engine, when DATABASE_REPLICA_URL is set
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:  # type: ignore[no-untyped-def]
    """BEGIN, or BEGIN IMMEDIATE for a unit of work that `begin_write` marked: a deferred
    transaction that reads and then writes fails at once with "database is locked" when
    another worker committed in between; an immediate one waits for the busy timeout."""
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def is_mysql(engine: Engine | None = None) -> bool:
    return (engine or db.engine).dialect.name in {"mysql", "mariadb"}
