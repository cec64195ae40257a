"""One tracked event is one transaction: run it, and on a MariaDB deadlock or lock timeout
roll back and run it again; on SQLite queue the writers on a file lock beside the database.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from ..extensions import db

log = logging.getLogger(__name__)


# MariaDB: deadlock / lock wait timeout. The whole unit of work is simply run again.
_RETRYABLE_MYSQL_ERRORS = {1213, 1205}
_ATTEMPTS = 3

T = TypeVar("T")


def in_transaction(work: Callable[[], T]) -> T:
    """Run a unit of work; on a MariaDB deadlock or lock timeout roll back and run it again
    (InnoDB resolves lock cycles by failing one side; the retry then simply waits its turn)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with sqlite_writers_queue():
                return work()
        except OperationalError as exc:
            db.session.rollback()
            code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
            if code not in _RETRYABLE_MYSQL_ERRORS or attempt == _ATTEMPTS:
                raise
            log.info("tracking: lock conflict (%s), attempt %d", code, attempt)
        except BaseException:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


@contextmanager
def sqlite_writers_queue() -> Iterator[None]:
    """SQLite (the embedded default) has one writer at a time, and a writer that finds the
    lock taken sleeps in growing steps (up to 100 ms) before it looks again: with several
    gunicorn workers the file sits idle while they sleep. Queuing the tracking writers on an
    OS file lock beside the database hands the lock over at once instead. Elsewhere: nothing."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    with open(url.database + "-writers.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
