"""One way to run a job: through RQ when REDIS_URL is set, in-process otherwise (and in
tests). Job functions live in the top-level `jobs` package, take ids and are idempotent;
they keep their own retry state in the database, so a failed attempt is never lost. The
domain names a job by its dotted path ("jobs.mail.send"), as RQ does, so it never imports
`jobs` (jobs build on the domain, not the reverse).

With RQ every job goes to one of three queues, by the module it lives in: `mail` (the
confirmation, welcome and reward mails people wait for, and the sign-ups that make them),
`webhooks` (deliveries to the customers' receivers, whose speed we do not control) and
`default` (everything else: the periodic runs and sweeps). A worker takes them in that
order (`QUEUES`), and a deployment may run workers per queue (`flask worker --queues mail`),
so a slow webhook receiver never holds up another customer's mail (docs/jobs.md "Queues").

Redis being away never fails the caller: the work is already a row in the database (a
pending mail, a pending webhook delivery) and the periodic sweep hands it to a job once
Redis is back (docs/jobs.md "Faults")."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import after_this_request, current_app, has_app_context, has_request_context, request
from redis.exceptions import RedisError

from .redis_conn import get_redis

log = logging.getLogger(__name__)
# The request's list of in-process jobs that wait for its answer to be sent.
_LATER = "referral_app.jobs_after_response"

MAIL = "mail"
WEBHOOKS = "webhooks"
DEFAULT = "default"
QUEUES = (MAIL, WEBHOOKS, DEFAULT)  # a worker's order: the first non-empty one is served
# Which queue a job goes to, by the module that holds it.
# A sign-up's job (jobs.signup) writes the confirmation mail someone waits for: `mail` too.
ROUTES = {"jobs.mail": MAIL, "jobs.signup": MAIL, "jobs.webhooks": WEBHOOKS}


def inline() -> bool:
    return bool(current_app.config.get("JOBS_INLINE", True)) or not current_app.config.get(
        "REDIS_URL"
    )


def redis_name(base: str, queue: str) -> str:
    """The RQ queue's name in Redis: `default` keeps the configured name itself (`RQ_QUEUE`,
    so jobs queued before the split are still worked), the others get it as a prefix."""
    return base if queue == DEFAULT else f"{base}-{queue}"


def get_queue(queue: str = DEFAULT):
    from rq import Queue

    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    return Queue(redis_name(current_app.config["RQ_QUEUE"], queue), connection=get_redis())


def dotted_name(func: Callable[..., Any] | str) -> str:
    if isinstance(func, str):
        return func
    return f"{func.__module__}.{func.__qualname__}"


def queue_for(func: Callable[..., Any] | str) -> str:
    module = dotted_name(func).rpartition(".")[0]
    return ROUTES.get(module, DEFAULT)


def _resolve(func: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(func):
        return func
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    job_id: str | None = None,
    delay: timedelta | None = None,
) -> bool:
    """Run `func(*args)` now in-process, or hand it to RQ (after `delay`, if given) on the
    job's queue (`queue_for`). Returns False when RQ could not take it (Redis unreachable);
    True otherwise.

    In-process, a delayed run is not kept in memory: the job's own state in the database
    (e.g. a mail's `next_attempt_at`) makes the periodic sweep pick it up again. The same
    state covers a job RQ could not take: it is logged, not raised.
    `func` is the job or its dotted name ("jobs.mail.send").
    """
    name = getattr(func, "__name__", func)
    if inline():
        if delay is not None:
            return True
        later = request.environ.get(_LATER) if has_request_context() else None
        if later is not None:
            later.append((func, args))
            return True
        try:
            _resolve(func)(*args)
        except Exception:  # a job records its own failure; never break the caller
            log.exception("in-process job %s failed", name)
        return True
    try:
        queue = get_queue(queue_for(func))
        if delay is not None:
            queue.enqueue_in(delay, func, *args, job_id=job_id)
        else:
            queue.enqueue(func, *args, job_id=job_id)
    except RedisError as exc:
        log.warning("job %s not enqueued (%s); the sweep runs it later", name, type(exc).__name__)
        return False
    return True


def run_inline_jobs_after_response() -> None:
    """In-process jobs this request starts run after its answer is sent (when the server
    closes the response), not before: the answer's timing then says nothing about what the
    jobs do (a sign-up's mail, docs/participants.md). Their work is already a row in the
    database, so a process that dies first leaves it to the sweep. With RQ nothing changes."""
    if not inline() or not has_request_context() or _LATER in request.environ:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    jobs: list[tuple[Callable[..., Any] | str, tuple[Any, ...]]] = []
    request.environ[_LATER] = jobs

    def run() -> None:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            _run_all(jobs)  # a caller's own app context (a test around its requests)
            return
        with app.app_context():
            _run_all(jobs)

    @after_this_request
    def _when_closed(response):  # type: ignore[no-untyped-def]
        response.call_on_close(run)
        return response


def run_after_response(func: Callable[..., Any] | str, *args: Any) -> None:
    """Run `func(*args)` in this process after the request's answer is sent, whatever the
    queue mode: for work RQ could not take (Redis away) that the answer must not wait for.
    Outside a request, now. A failure is logged (the job's row stays for the sweep)."""
    if not has_request_context():
        _run_here(func, args)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            _run_here(func, args)
            return
        with app.app_context():
            _run_here(func, args)

    @after_this_request
    def _when_closed(response):  # type: ignore[no-untyped-def]
        response.call_on_close(run)
        return response


def _run_here(func: Callable[..., Any] | str, args: tuple[Any, ...]) -> None:
    try:
        _resolve(func)(*args)
    except Exception:  # a job records its own failure; never break the caller
        log.exception("in-process job %s failed", getattr(func, "__name__", func))


def _run_all(jobs: list[tuple[Callable[..., Any] | str, tuple[Any, ...]]]) -> None:
    for func, args in jobs:
        enqueue(func, *args)
