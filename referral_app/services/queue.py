"""One way to run a job: through RQ when REDIS_URL is set, in-process otherwise (and in
tests). Job functions live in the top-level `jobs` package, take ids and are idempotent;
they keep their own retry state in the database, so a failed attempt is never lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)


def inline() -> bool:
    return bool(current_app.config.get("JOBS_INLINE", True)) or not current_app.config.get(
        "REDIS_URL"
    )


def get_queue():  # type: ignore[no-untyped-def]
    from rq import Queue

    from ..redis_conn import get_redis

    return Queue(current_app.config["RQ_QUEUE"], connection=get_redis())


def enqueue(
    func: Callable[..., Any], *args: Any, job_id: str | None = None, delay: timedelta | None = None
) -> None:
    """Run `func(*args)` now in-process, or hand it to RQ (after `delay`, if given).

    In-process, a delayed run is not kept in memory: the job's own state in the database
    (e.g. a mail's `next_attempt_at`) makes the periodic sweep pick it up again.
    """
    if inline():
        if delay is not None:
            return
        try:
            func(*args)
        except Exception:  # a job records its own failure; never break the caller
            log.exception("in-process job %s failed", getattr(func, "__name__", func))
        return
    queue = get_queue()
    if delay is not None:
        queue.enqueue_in(delay, func, *args, job_id=job_id)
    else:
        queue.enqueue(func, *args, job_id=job_id)
