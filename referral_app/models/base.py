"""Shared column types and helpers for the models. All times are naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer

# MariaDB gets 64-bit ids for the event tables; SQLite only autoincrements INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Now in UTC without tzinfo: the form both SQLite and MariaDB DATETIME store."""
    return datetime.now(UTC).replace(tzinfo=None)
