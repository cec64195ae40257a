"""The daily job (`jobs.scheduled.daily`) on 10,000 participants, run by the RQ worker.

The data set (`data.daily`) gives the job real work of every kind it does: reward grants
to make and their mails to queue, sign-ups never confirmed to delete (their lead counts
into the archive), old salts and the device hashes made with them, expired fraud
counters, mails whose retry is due. The job is enqueued and run by `flask --app wsgi
worker` exactly as the schedule runs it; its time is the RQ job's own (started → ended),
its summary the job's return value. The mails it queues are then sent by the same worker
(MAIL_SUPPRESS_SEND: composed, not handed to a server) for up to `--drain-timeout`
seconds. The monthly cleanup's run shows the retention side; a second daily run shows the
job is idempotent (its sweep only hands the mails the worker had not got to yet back to the
queue); `stats rebuild --check` afterwards must find no difference. Run through `benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from redis import Redis
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from benchmarks import data
from benchmarks.common import load, make_app, reset_schema, server_env, stop
from benchmarks.track import drain, start_worker, stats_check
from referral_app.core.queue import QUEUES, redis_name

ROWS_TOUCHED = (
    "reward_mails_queued",
    "unconfirmed_deleted",
    "salts_deleted",
    "devices_deleted",
    "mails_due",
    "webhook_retries",
    "expired_counters_deleted",
)


def generate(app, participants: int, customers: int) -> dict[str, Any]:
    """Fresh tables, the raw rows, the aggregates and ledger by `stats rebuild`, then the
    state one day of work leaves behind (`data.prepare_daily`)."""
    from referral_app.core import crypto
    from referral_app.extensions import db
    from referral_app.participants import addresses
    from referral_app.tracking import recount

    reset_schema(app)
    with app.app_context():
        started = time.perf_counter()
        emails = []
        for n in range(1, participants + 1):
            address = f"teilnehmer{n}@example.com"
            customer_id = 1 + n % customers  # as data.daily assigns participant n
            emails.append(
                (
                    crypto.encrypt(address),
                    addresses.email_hash(customer_id, address),
                    addresses.alias_hash(customer_id, address),
                )
            )
        retention = int(app.config["RAW_EVENT_RETENTION_DAYS"])
        with db.engine.connect() as connection:
            data.daily(
                connection,
                participants,
                customers,
                generate_password_hash(data.PASSWORD),
                emails,
                retention,
            )
        recount.rebuild()
        db.session.commit()
        db.session.remove()
        with db.engine.connect() as connection:
            prepared = data.prepare_daily(
                connection, participants, int(app.config["UNCONFIRMED_RETENTION_DAYS"])
            )
            counts = {
                table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
                for table in ("referral_leads", "referral_clicks", "referral_conversions")
            }
        db.session.remove()
    return {"seconds": round(time.perf_counter() - started, 1), **prepared, **counts}


def run_job(redis: Redis, queue_name: str, func: Any, timeout: float) -> dict[str, Any]:
    """Enqueue `func` for the worker, wait for it; its time and return value."""
    from rq import Queue

    queue = Queue(queue_name, connection=redis)
    before = load()
    job = queue.enqueue(func, job_timeout=int(timeout))
    deadline = time.monotonic() + timeout
    while job.get_status(refresh=True) not in ("finished", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{func.__name__} did not finish within {timeout} s")
        time.sleep(0.2)
    job.refresh()
    if job.get_status() == "failed":
        raise RuntimeError(f"{func.__name__} failed: {job.latest_result().exc_string}")
    return {
        "seconds": round((job.ended_at - job.started_at).total_seconds(), 2),
        "summary": job.return_value(),
        "load_1m": [before, load()],
    }


def empty_queue(redis: Redis, queue_name: str) -> int:
    """Drop the jobs left in every queue under the base name `queue_name`."""
    from rq import Queue

    return sum(int(Queue(redis_name(queue_name, q), connection=redis).empty()) for q in QUEUES)


def mail_counts(app) -> dict[str, int]:
    from referral_app.extensions import db

    with app.app_context():
        rows = db.session.execute(
            text("SELECT status, COUNT(*) FROM mail_outbox GROUP BY status")
        ).all()
        db.session.remove()
    return {status: int(n) for status, n in rows}


def run(url: str, redis_url: str, settings: argparse.Namespace) -> dict[str, Any]:
    from jobs import scheduled

    app = make_app(url)
    generated = generate(app, settings.participants, max(1, settings.participants // 100))
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    # The worker's own schedule would start today's daily and monthly runs at once: claim
    # them first (the claim the worker checks), so only the runs enqueued here happen.
    today = time.gmtime()
    redis.set(f"referral:schedule:daily:{time.strftime('%Y-%m-%d', today)}", "1", ex=3600)
    redis.set(f"referral:schedule:monthly:{time.strftime('%Y-%m', today)}", "1", ex=3600)
    env = server_env(url, redis_url)
    queue_name = env.get("RQ_QUEUE", "referral")
    worker = start_worker(env, redis)
    try:
        sent_before = mail_counts(app).get("sent", 0)
        first = run_job(redis, queue_name, scheduled.daily, settings.job_timeout)
        mails = drain(redis, queue_name, settings.drain_timeout)
        mails["sent"] = mail_counts(app).get("sent", 0) - sent_before
        # What the worker has not got to stays pending in the outbox (the sweep picks it
        # up again); its jobs are dropped so the next runs do not wait behind them.
        mails["left_for_the_sweep"] = empty_queue(redis, queue_name)
        monthly = run_job(redis, queue_name, scheduled.monthly, settings.job_timeout)
        second = run_job(redis, queue_name, scheduled.daily, settings.job_timeout)
        empty_queue(redis, queue_name)
    finally:
        stop(worker)
    summary = first["summary"]
    touched = sum(int(summary.get(key) or 0) for key in ROWS_TOUCHED)
    grants = summary.get("reward_grants") or {}
    touched += int(grants.get("granted") or 0) + int(grants.get("revoked") or 0)
    return {
        "participants": settings.participants,
        "generate": generated,
        "first": first,
        "rows_touched": touched,
        "mails": mails,
        "second": second,
        "monthly": monthly,
        "stats_check_differences": stats_check(app),
    }
