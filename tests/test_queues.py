"""The job queues (issue 14, item 5): mails, webhook deliveries and everything else go to
queues of their own, a worker serves them in priority order (`mail`, `webhooks`,
`default`) and a deployment may run a worker per queue, so one customer's slow webhook
receiver never holds up another customer's confirmation mail.

Every test brings its own redis-server (tests/support_services.py) and runs on both
backends; the end-to-end test runs real `flask --app wsgi worker` processes against a
receiver that holds every request until the test lets it go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import select

from referral_app.accounts import users as accounts
from referral_app.core import queue
from referral_app.extensions import db
from referral_app.models import WebhookDelivery

from .conftest import api_key_for
from .support_faults import wait_until, workers  # noqa: F401
from .support_mail import smtp_server  # noqa: F401
from .support_participants import setup_program, signup
from .support_services import private_redis  # noqa: F401

pytestmark = pytest.mark.both_backends  # deliveries and mails in each engine, jobs in Redis

ORDER_KEY = "test:queues:order"


def rq_config(redis_url: str) -> dict:
    return {"REDIS_URL": redis_url, "JOBS_INLINE": False, "RQ_QUEUE": "queues-test"}


def record(name: str) -> None:
    """A job that notes in Redis that it ran (enqueued by the ordering test)."""
    from referral_app.core.redis_conn import get_redis

    get_redis().rpush(ORDER_KEY, name)


class HoldingReceiver:
    """A webhook receiver on 127.0.0.1 that holds every request, unanswered, until
    `release()` (a receiver that takes its time); `held` counts the requests it got."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.held = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.held += 1
                receiver.released.wait(timeout=120)  # a bound for a hung test
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting (its timeout)

            def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def holding_receiver() -> Iterator[HoldingReceiver]:
    receiver = HoldingReceiver()
    yield receiver
    receiver.stop()


def test_each_job_goes_to_the_queue_of_its_kind(make_app, private_redis):  # noqa: F811
    app = make_app(**rq_config(private_redis.url))
    with app.app_context():
        assert queue.enqueue("jobs.mail.send", 1)
        assert queue.enqueue("jobs.webhooks.deliver", 2)
        assert queue.enqueue("jobs.scheduled.daily")
        queued = {
            name: [job.func_name for job in queue.get_queue(name).get_jobs()]
            for name in queue.QUEUES
        }
        for name in queue.QUEUES:
            queue.get_queue(name).empty()
    assert queued == {
        "mail": ["jobs.mail.send"],
        "webhooks": ["jobs.webhooks.deliver"],
        "default": ["jobs.scheduled.daily"],
    }


def test_a_worker_serves_mail_before_webhooks_before_the_rest(make_app, private_redis):  # noqa: F811
    """Queued in the opposite order, a worker on all queues (the default) runs the mail's
    job first: after every job it takes from the first queue that has one."""
    app = make_app(**rq_config(private_redis.url))
    with app.app_context():
        for name in (queue.DEFAULT, queue.WEBHOOKS, queue.MAIL):
            for n in range(2):
                queue.get_queue(name).enqueue(record, f"{name}-{n}")
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    order = [item.decode() for item in Redis.from_url(private_redis.url).lrange(ORDER_KEY, 0, -1)]
    assert order == ["mail-0", "mail-1", "webhooks-0", "webhooks-1", "default-0", "default-1"]


def test_the_worker_refuses_an_unknown_queue(make_app, private_redis):  # noqa: F811
    app = make_app(**rq_config(private_redis.url))
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queues", "mail,fast"])
    assert result.exit_code == 2
    assert "unknown queue fast" in result.output


def test_a_worker_given_one_queue_leaves_the_others_alone(make_app, private_redis):  # noqa: F811
    app = make_app(**rq_config(private_redis.url))
    with app.app_context():
        for name in (queue.DEFAULT, queue.WEBHOOKS, queue.MAIL):
            queue.get_queue(name).enqueue(record, name)
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queues", "webhooks"])
    assert result.exit_code == 0, result.output
    assert Redis.from_url(private_redis.url).lrange(ORDER_KEY, 0, -1) == [b"webhooks"]
    with app.app_context():
        assert queue.get_queue(queue.MAIL).count == 1
        # The default queue holds its job and the periodic runs of the worker's tick.
        assert "tests.test_queues.record" in [
            job.func_name for job in queue.get_queue(queue.DEFAULT).get_jobs()
        ]


def _deliveries_attempted(app) -> int:
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery)).all()
        db.session.rollback()
        return sum(row.attempts > 0 and row.status != "pending" for row in rows)


@pytest.mark.slow
def test_a_slow_webhook_receiver_does_not_delay_another_customers_confirmation_mail(
    make_app,
    customer,
    private_redis,  # noqa: F811
    smtp_server,  # noqa: F811
    holding_receiver,
    workers,  # noqa: F811
):
    """Customer A sends five test events to a receiver that answers nothing until told;
    then a visitor signs up with customer B. With a worker per queue the confirmation mail
    reaches the SMTP server while A's receiver still holds the first test event — behind
    one shared queue it would wait for all five."""
    app = make_app(**smtp_server.config, **rq_config(private_redis.url), WEBHOOK_ALLOW_PRIVATE=True)
    setup_program(app, customer["id"], milestones=False)
    with app.app_context():
        _other, other_user = accounts.create_customer("a@example.com", "geheimes-passwort", "A")
        other_user_id = other_user.id
    bearer = {"Authorization": f"Bearer {api_key_for(app, other_user_id)}"}
    client = app.test_client()

    created = client.post(
        "/api/referral/webhooks",
        json={"url": holding_receiver.url, "events": ["conversion"]},
        headers=bearer,
    )
    assert created.status_code == 201, created.get_json()
    endpoint_id = created.get_json()["id"]
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT": "10"}
    workers.start(app, WORKER_QUEUES="mail", **env)
    workers.start(app, WORKER_QUEUES="webhooks,default", **env)
    redis = Redis.from_url(private_redis.url)
    wait_until(
        lambda: len(Worker.all(connection=redis)) == 2, "both workers listening", timeout=120
    )

    for _ in range(5):
        answer = client.post(f"/api/referral/webhooks/{endpoint_id}/test", headers=bearer)
        assert answer.status_code == 202
    wait_until(lambda: holding_receiver.held == 1, "the receiver holds the first test event")

    address = "besucherin@example.org"
    assert signup(client, customer["ref_code"], address).status_code == 202
    wait_until(lambda: smtp_server.to(address), "the confirmation mail arrived", timeout=120)

    # The mail came while the receiver still held test events, unanswered, and before the
    # webhooks worker got to all five (each attempt is cut after WEBHOOK_TIMEOUT, so on a
    # slow machine it may have moved on to a second). Behind one shared queue, however
    # many workers, the mail would only be sent once all five had reached the receiver.
    held_when_mailed, done_when_mailed = holding_receiver.held, _deliveries_attempted(app)
    assert not holding_receiver.released.is_set()
    assert 1 <= held_when_mailed < 5
    assert done_when_mailed < held_when_mailed
    holding_receiver.release()
    wait_until(lambda: _deliveries_attempted(app) == 5, "all test events done", timeout=180)
    assert holding_receiver.held >= 1
