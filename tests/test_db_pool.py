"""The pool's reset-on-return (db_setup._reset_only_when_needed): a connection goes back to
the pool without a ROLLBACK after its transaction was committed or rolled back, and with one
whenever a transaction may still be open, so no request ever sees another's uncommitted work
or an old snapshot. (SQLAlchemy's Connection rolls back its own unfinished transaction when
closed; the pool's reset is what catches everything else: a raw DBAPI connection, a
connection given back by the garbage collector.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from referral_app.extensions import db

pytestmark = pytest.mark.both_backends  # the pool's reset-on-return is a driver matter

ORIGINAL = "Müller & Söhne GmbH"


def _names(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT company_name FROM customers")).scalars())


def _raw_update(engine, name: str, commit: bool) -> None:
    raw = engine.raw_connection()
    cursor = raw.cursor()
    if engine.dialect.name == "sqlite":  # its connections run in autocommit but for BEGIN
        cursor.execute("BEGIN")
    cursor.execute(f"UPDATE customers SET company_name = '{name}'")
    cursor.close()
    if commit:
        raw.commit()
    raw.close()  # back to the pool


def test_an_open_transaction_is_rolled_back_when_its_connection_returns(app, customer):
    with app.app_context():
        engine = db.engine
        _raw_update(engine, "not committed", commit=False)
        assert _names(engine) == [ORIGINAL]


def test_after_a_commit_through_sqlalchemy_a_later_raw_write_is_still_rolled_back(app, customer):
    """The "ended" mark of one checkout never carries over to the next."""
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            connection.commit()
        _raw_update(engine, "raw, not committed", commit=False)
        assert _names(engine) == [ORIGINAL]


def test_committed_work_stays_and_is_seen_by_the_next_checkout(app, customer):
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            connection.execute(text("UPDATE customers SET company_name = 'committed'"))
            connection.commit()
        assert _names(engine) == ["committed"]
        _raw_update(engine, "raw committed", commit=True)
        assert _names(engine) == ["raw committed"]
