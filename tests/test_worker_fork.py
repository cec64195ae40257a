"""The RQ worker's forking mode (`WORKER_FORK`, jobs/worker.py): what `warm_up` prepares in
the parent, and that a forked work horse never talks over the parent's database connection.
The default, non-forking worker is exercised by tests/test_jobs.py and the fault tests."""

from __future__ import annotations

import gc
import os
import signal

import pytest
from flask_babel import get_domain
from sqlalchemy import inspect, select, text

from referral_app.extensions import db
from referral_app.models import OutgoingMail

pytestmark = pytest.mark.both_backends  # a forked horse's own MariaDB connection

MAIL_KINDS = ("confirmation", "already_in", "welcome", "reward")


def where_am_i() -> tuple[int, int]:
    """A job: the process it runs in and the database connection it got."""
    return os.getpid(), int(db.session.scalar(text("SELECT CONNECTION_ID()")))


def test_warm_up_prepares_what_every_horse_needs_and_leaves_it_no_connection(app):
    from jobs import worker

    with app.app_context():
        db.session.execute(select(1))
        db.session.remove()
        assert db.engine.pool.checkedin() == 1
    try:
        worker.warm_up(app)
        with app.app_context():
            assert db.engine.pool.checkedin() == 0  # nothing a forked horse could reuse
            assert inspect(OutgoingMail).configured
            compiled = {name for _loader, name in app.jinja_env.cache}
            assert {f"emails/{kind}.{ext}" for kind in MAIL_KINDS for ext in ("html", "txt")} <= (
                compiled
            )
            loaded = {locale for locale, _domain in get_domain().cache}
            assert set(app.config["LANGUAGES"]) <= loaded
    finally:
        gc.unfreeze()


def test_a_forked_horse_opens_its_own_database_connection(make_app, backend_name):
    if backend_name != "mariadb" or not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("needs MariaDB (CONNECTION_ID) and TEST_REDIS_URL")
    from redis import Redis
    from rq import Queue

    from jobs.worker import ForkingAppWorker

    app = make_app(JOBS_INLINE=False)
    redis = Redis.from_url(app.config["REDIS_URL"])
    queue = Queue(f"{app.config['RQ_QUEUE']}-fork-test", connection=redis)
    jobs = [queue.enqueue(where_am_i) for _ in range(2)]
    with app.app_context():
        parent = db.session.scalar(text("SELECT CONNECTION_ID()"))
        db.session.remove()  # back in the pool when the horses are forked
        assert db.engine.pool.checkedin() == 1

        worker = ForkingAppWorker([queue], connection=redis)
        worker.flask_app = app
        worker.parent_pid = os.getpid()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            worker.work(burst=True)
        finally:  # RQ installs its own
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

        results = [job.return_value(refresh=True) for job in jobs]
        assert None not in results, [job.get_status() for job in jobs]
        pids = {pid for pid, _connection in results}
        connections = {connection for _pid, connection in results}
        assert len(pids) == 2 and os.getpid() not in pids  # one horse per job
        assert len(connections) == 2 and parent not in connections
        # The parent's pooled connection was neither used nor closed by a horse.
        assert db.session.scalar(text("SELECT CONNECTION_ID()")) == parent
        db.session.remove()
    queue.delete(delete_jobs=True)
