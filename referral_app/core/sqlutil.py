"""Portable upserts and insert-ignore for SQLite and MariaDB/MySQL.

Duplicates are prevented by unique keys, never by check-then-insert (two app servers racing
would both pass the check); these helpers let the database decide in one statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

# Statement shapes, built once: the values travel as execution parameters, so a hot path
# (every tracked event) pays neither for building nor for compiling a statement again.
_statements: dict[tuple[Any, ...], Any] = {}


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def begin_write(session: Session) -> None:
    """Start a unit of work that will write. On SQLite it takes the write lock first (see
    db_setup); elsewhere it is a plain transaction. Ends a read transaction still open."""
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def _insert(dialect: str, table: Table, ignore_conflict: bool) -> Any:
    key = ("insert", dialect, table, ignore_conflict)
    stmt = _statements.get(key)
    if stmt is None:
        if dialect == "sqlite":
            stmt = sqlite.insert(table)
            if ignore_conflict:
                stmt = stmt.on_conflict_do_nothing()
        else:
            stmt = mysql.insert(table)
            if ignore_conflict:
                stmt = stmt.prefix_with("IGNORE")
        _statements[key] = stmt
    return stmt


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int:
    """INSERT that silently skips a unique-key conflict. Returns the rows inserted (0 or 1)."""
    return session.execute(_insert(_dialect(session), table, True), values).rowcount


def insert_returning_id(
    session: Session, table: Table, values: dict[str, Any], ignore_conflict: bool = False
) -> int | None:
    """INSERT (optionally ignoring a unique conflict) and give back the new id, or None."""
    result = session.execute(_insert(_dialect(session), table, ignore_conflict), values)
    if result.rowcount == 0:
        return None
    return int(result.inserted_primary_key[0])


def upsert_increment(
    session: Session, table: Table, keys: dict[str, Any], increments: dict[str, int]
) -> None:
    """`INSERT … ON CONFLICT/DUPLICATE KEY UPDATE n = n + k` for the counter row at `keys`."""
    dialect = _dialect(session)
    key = ("upsert", dialect, table, tuple(keys), tuple(increments))
    stmt = _statements.get(key)
    if stmt is None:
        if dialect == "sqlite":
            stmt = sqlite.insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: table.c[name] + stmt.excluded[name] for name in increments},
            )
        else:
            stmt = mysql.insert(table)
            stmt = stmt.on_duplicate_key_update(
                {name: table.c[name] + stmt.inserted[name] for name in increments}
            )
        _statements[key] = stmt
    session.execute(stmt, {**keys, **increments})
