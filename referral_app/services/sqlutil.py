"""Portable upserts and insert-ignore for SQLite and MariaDB/MySQL.

Duplicates are prevented by unique keys, never by check-then-insert (two app servers racing
would both pass the check); these helpers let the database decide in one statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def begin_write(session: Session) -> None:
    """Start a unit of work that will write. On SQLite it takes the write lock first (see
    db_setup); elsewhere it is a plain transaction. Ends a read transaction still open."""
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


def insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int:
    """INSERT that silently skips a unique-key conflict. Returns the rows inserted (0 or 1)."""
    if _dialect(session) == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:
        stmt = mysql.insert(table).values(**values).prefix_with("IGNORE")
    return session.execute(stmt).rowcount


def insert_returning_id(
    session: Session, table: Table, values: dict[str, Any], ignore_conflict: bool = False
) -> int | None:
    """INSERT (optionally ignoring a unique conflict) and give back the new id, or None."""
    if _dialect(session) == "sqlite":
        stmt = sqlite.insert(table).values(**values)
        if ignore_conflict:
            stmt = stmt.on_conflict_do_nothing()
    else:
        stmt = mysql.insert(table).values(**values)
        if ignore_conflict:
            stmt = stmt.prefix_with("IGNORE")
    result = session.execute(stmt)
    if result.rowcount == 0:
        return None
    return int(result.inserted_primary_key[0])


def upsert_increment(
    session: Session, table: Table, keys: dict[str, Any], increments: dict[str, int]
) -> None:
    """`INSERT … ON CONFLICT/DUPLICATE KEY UPDATE n = n + k` for the counter row at `keys`."""
    values = {**keys, **increments}
    if _dialect(session) == "sqlite":
        stmt = sqlite.insert(table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + stmt.excluded[name] for name in increments},
        )
    else:
        stmt = mysql.insert(table).values(**values)
        stmt = stmt.on_duplicate_key_update(
            {name: table.c[name] + stmt.inserted[name] for name in increments}
        )
    session.execute(stmt)
