"""`flask --app wsgi worker`: runs the jobs and keeps the periodic schedule.

With REDIS_URL it is an RQ worker (jobs run inside the app context, each in a forked work
horse) with RQ's scheduler for delayed jobs (mail retries), and a small ticker thread that
enqueues the periodic runs: the mail retry sweep every minute, `daily` once per UTC day,
`monthly` once per UTC month. Any number of workers may run: each periodic run is claimed
once with a Redis `SET key NX EX`, so it is enqueued once however many tick.

Without REDIS_URL the same command runs the schedule in-process in a loop, claiming each
run in the database (a row in `rate_counters`), so two such processes don't double up.
"""

from __future__ import annotations

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
from rq import Queue, Worker
from sqlalchemy import delete

from referral_app.extensions import db
from referral_app.models import RateCounter, utcnow
from referral_app.services import queue as job_queue
from referral_app.services.sqlutil import begin_write, insert_ignore

from . import scheduled

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
        from referral_app.redis_conn import get_redis

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

    from referral_app.redis_conn import get_redis

    try:
        get_redis().delete(f"referral:{SCHEDULE_PREFIX}{name}:{period}")
    except RedisError:
        log.warning("schedule claim %s:%s not released; Redis unavailable", name, period)


class AppWorker(Worker):
    """An RQ worker whose jobs run inside the Flask app context."""

    flask_app: Flask

    def perform_job(self, job, queue, execution):  # type: ignore[no-untyped-def]
        with self.flask_app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked work horse: never talk over the parent's database connections.
                db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()


def run(app: Flask, burst: bool = False) -> None:
    """The `worker` command."""
    if job_queue.inline():
        _run_in_process(app, burst)
    else:
        _run_rq(app, burst)


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


def _run_rq(app: Flask, burst: bool) -> None:
    from redis import Redis

    # Its own client without a socket timeout: the worker blocks on the queue for minutes.
    connection = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(app.config["RQ_QUEUE"], connection=connection)
    worker = AppWorker([queue], connection=connection)
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
    stop = threading.Event()
    ticker = threading.Thread(target=_ticker, args=(app, stop), name="schedule", daemon=True)
    ticker.start()
    try:
        worker.work(with_scheduler=True)
    finally:
        stop.set()
