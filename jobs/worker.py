"""`flask --app wsgi worker`: runs the jobs and keeps the periodic schedule.

With REDIS_URL it is an RQ worker (jobs run inside the app context, one after another in
the worker process; with WORKER_FORK each in a forked work horse) on the queues it is given,
by default all three in priority order (`mail`, `webhooks`, `default`: after each job the
first non-empty queue is served), with RQ's scheduler for the delayed jobs of those queues
(mail retries, webhook retries), and a small ticker thread that enqueues the periodic runs: the
mail retry sweep every minute, `daily` once per UTC day, `monthly` once per UTC month. Any
number of workers may run: each periodic run is claimed once with a Redis `SET key NX EX`,
so it is enqueued once however many tick.

Without REDIS_URL the same command runs the schedule in-process in a loop, claiming each
run in the database (a row in `rate_counters`), so two such processes don't double up.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_babel import force_locale, get_translations
from rq import Queue, SimpleWorker, Worker
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from jobs import (
    scheduled,
    webhooks,  # noqa: F401 - imported by name in each job (mail, signup: via scheduled)
)
from referral_app.core import queue as job_queue
from referral_app.core.redis_conn import get_redis
from referral_app.core.sqlutil import begin_write, insert_ignore
from referral_app.extensions import db
from referral_app.models import RateCounter, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: Callable[[], dict[str, Any]]
    period: Callable[[datetime], str]  # the period a run belongs to: one run per value
    ttl: int  # seconds the claim is kept: longer than the period


SCHEDULE = (
    Periodic("retry_mails", scheduled.retry_mails, lambda now: now.strftime("%Y-%m-%dT%H:%M"), 180),
    Periodic("daily", scheduled.daily, lambda now: now.strftime("%Y-%m-%d"), 2 * 86400),
    Periodic("monthly", scheduled.monthly, lambda now: now.strftime("%Y-%m"), 40 * 86400),
)
SCHEDULE_PREFIX = "schedule:"


def claim(name: str, period: str, ttl: int) -> bool:
    """True for exactly one caller per (job, period), across processes and hosts."""
    key = f"{SCHEDULE_PREFIX}{name}:{period}"
    if current_app.config.get("REDIS_URL"):
        return bool(get_redis().set(f"referral:{key}", "1", nx=True, ex=ttl))
    now = utcnow()
    begin_write(db.session())
    db.session.execute(
        delete(RateCounter).where(
            RateCounter.key.like(f"{SCHEDULE_PREFIX}%"), RateCounter.expires_at < now
        )
    )
    won = insert_ignore(
        db.session,
        RateCounter.__table__,
        {"key": key, "count": 1, "expires_at": now + timedelta(seconds=ttl)},
    )
    db.session.commit()
    return bool(won)


def tick(now: datetime | None = None) -> list[str]:
    """Start every periodic run that is due and not yet claimed: enqueued for RQ, or run
    right here without Redis. Returns the names started."""
    now = now or utcnow()
    started = []
    for periodic in SCHEDULE:
        if not claim(periodic.name, periodic.period(now), periodic.ttl):
            continue
        if job_queue.inline():
            started.append(periodic.name)
            try:
                summary = periodic.func()
                log.info("scheduled %s: %s", periodic.name, summary)
            except Exception:  # one failed run must not stop the schedule
                db.session.rollback()
                log.exception("scheduled %s failed", periodic.name)
        elif job_queue.enqueue(periodic.func):
            started.append(periodic.name)
        else:  # Redis went away after the claim: give it back, the next tick tries again
            release(periodic.name, periodic.period(now))
    return started


def release(name: str, period: str) -> None:
    """Give back a Redis claim whose run could not be enqueued (best effort: Redis may
    still be away, and a claim lost with it needs no release)."""
    from redis.exceptions import RedisError

    try:
        get_redis().delete(f"referral:{SCHEDULE_PREFIX}{name}:{period}")
    except RedisError:
        log.warning("schedule claim %s:%s not released; Redis unavailable", name, period)


def warm_up(app: Flask) -> None:
    """Do once, in the parent of forking workers, what each job would otherwise pay for
    again in its freshly forked work horse (which inherits this copy-on-write): importing
    the job modules, configuring the ORM mappers, compiling the mail templates, loading
    both translation catalogs, and the dialect's first-connection setup (server version,
    SQL mode). That first connection is closed again: a horse never gets a connection of
    the parent's."""

    with app.app_context():
        configure_mappers()
        env = app.jinja_env
        for name in env.list_templates(filter_func=lambda name: name.startswith("emails/")):
            env.get_template(name)
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()  # kept in Flask-Babel's per-domain cache
        try:
            with db.engine.connect():
                pass
        except SQLAlchemyError as exc:  # the database may come later; jobs retry
            log.warning("worker warm-up: database not reachable (%s)", type(exc).__name__)
        finally:
            db.engine.dispose()
    # Keep the collector away from what exists now: walking it would write to (and so
    # copy) those pages in every horse.
    gc.freeze()


class _AppContext:
    """Each job inside the Flask app context, with a session of its own."""

    flask_app: Flask
    parent_pid: int

    def perform_job(self, job, queue, execution):
        with self.flask_app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked work horse: never talk over the parent's database connections.
                db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()

    def subscribe(self):
        """RQ's, with the command listener polling every second instead of every 60: RQ
        unsubscribes before it stops that thread, which then sits out its whole poll, so
        every stop (a `--burst` run's end, a SIGTERM) took up to a minute."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )


class AppWorker(_AppContext, SimpleWorker):
    """The default: jobs run one after another in the worker process itself, so the
    connection pool, compiled SQL, templates and catalogs serve every job after the first.
    A job that kills the process takes the worker with it; its claim in the database
    (mail lease, webhook claim) runs out and the sweep hands the work to a worker again,
    as when a host dies (docs/jobs.md "Faults")."""


class ForkingAppWorker(_AppContext, Worker):
    """`WORKER_FORK`: RQ's classic worker, each job in a forked work horse (isolation from
    a job that crashes or leaks, at ~5x the CPU per mail job, see docs/jobs.md)."""


def parse_queues(value: str | None) -> tuple[str, ...]:
    """`--queues mail,webhooks`: names from `core.queue.QUEUES`, in the order given (the
    worker's priority); empty means all of them. Raises ValueError for an unknown name."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in job_queue.QUEUES]
    if unknown:
        known = ", ".join(job_queue.QUEUES)
        raise ValueError(f"unknown queue {', '.join(unknown)} (known: {known})")
    return tuple(dict.fromkeys(names)) or job_queue.QUEUES


def run(app: Flask, burst: bool = False, queues: tuple[str, ...] = job_queue.QUEUES) -> None:
    """The `worker` command: RQ on `queues` (in that priority order), or in-process."""
    if job_queue.inline():
        _run_in_process(app, burst)
    else:
        _run_rq(app, burst, queues)


def _tick_interval(app: Flask) -> float:
    return float(app.config.get("SCHEDULE_TICK_SECONDS", 10))


def _run_in_process(app: Flask, burst: bool) -> None:
    while True:
        with app.app_context():
            try:
                tick()
            except Exception:
                log.exception("schedule tick failed")
            finally:
                db.session.remove()
        if burst:
            return
        time.sleep(_tick_interval(app))


def _ticker(app: Flask, stop: threading.Event) -> None:
    while True:
        with app.app_context():
            try:
                tick()
            except Exception:
                log.exception("schedule tick failed")
            finally:
                db.session.remove()
        if stop.wait(_tick_interval(app)):
            return


def start_schedule(app: Flask) -> threading.Event:
    """The periodic schedule in a daemon thread of this process (the development server's
    `flask serve`: reward mails and the daily jobs without a worker). Set the event to stop."""
    stop = threading.Event()
    threading.Thread(target=_ticker, args=(app, stop), name="schedule", daemon=True).start()
    return stop


def _run_rq(app: Flask, burst: bool, queues: tuple[str, ...]) -> None:
    from redis import Redis

    # Its own client without a socket timeout: the worker blocks on the queue for minutes.
    connection = Redis.from_url(app.config["REDIS_URL"])
    base = app.config["RQ_QUEUE"]
    listened = [Queue(job_queue.redis_name(base, name), connection=connection) for name in queues]
    if app.config.get("WORKER_FORK", False):
        warm_up(app)
        worker: AppWorker | ForkingAppWorker = ForkingAppWorker(listened, connection=connection)
    else:
        worker = AppWorker(listened, connection=connection)
    worker.flask_app = app
    worker.parent_pid = os.getpid()
    if burst:
        with app.app_context():
            tick()
            db.session.remove()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            worker.work(burst=True, with_scheduler=True)
        finally:  # RQ installs its own; a burst run leaves the process as it found it
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return
    stop = start_schedule(app)
    try:
        worker.work(with_scheduler=True)
    finally:
        stop.set()
