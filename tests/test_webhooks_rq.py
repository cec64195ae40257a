"""With Redis: every delivery is its own RQ job, run by a real RQ worker (in-process, burst
mode), and a retry is a scheduled job; the periodic sweep still finds a due delivery if
that scheduled job is lost. Runs when TEST_REDIS_URL is set (the MariaDB + Redis run)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from referral_app.core import queue
from referral_app.extensions import db
from referral_app.models import WebhookDelivery
from referral_app.webhooks import deliveries, events

from .conftest import api_key_for
from .support_http import http_receiver  # noqa: F401

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")

pytestmark = [
    pytest.mark.skipif(not TEST_REDIS_URL, reason="TEST_REDIS_URL not set"),
    pytest.mark.both_backends,  # RQ jobs in Redis, deliveries in each engine
]


@pytest.fixture
def rq_app(make_app, customer):
    app = make_app(
        WEBHOOK_ALLOW_PRIVATE=True,
        WEBHOOK_RETRY_DELAYS=[60, 120],
        REDIS_URL=TEST_REDIS_URL,
        JOBS_INLINE=False,
        RQ_QUEUE="webhooks-test",
    )
    yield app
    with app.app_context():
        for name in queue.QUEUES:
            q = queue.get_queue(name)
            q.empty()
            for registry in (q.scheduled_job_registry, q.finished_job_registry):
                for job_id in registry.get_job_ids():
                    registry.remove(job_id, delete_job=True)


def work(app) -> None:
    """A burst run of the app's own worker class (its command listener stops within a
    second; RQ's plain SimpleWorker sits out a 30-60 s poll on every stop)."""
    from jobs.worker import AppWorker

    with app.app_context():
        q = queue.get_queue(queue.WEBHOOKS)
    worker = AppWorker([q], connection=q.connection)
    worker.flask_app = app
    worker.parent_pid = os.getpid()
    worker.work(burst=True)


def test_each_delivery_is_one_rq_job_and_retries_are_scheduled(
    rq_app,
    customer,
    http_receiver,  # noqa: F811
):
    key = api_key_for(rq_app, customer["user_id"])
    created = rq_app.test_client().post(
        "/api/referral/webhooks",
        json={"url": http_receiver.url, "events": ["conversion"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    secret = created.get_json()["secret"]
    http_receiver.answer(500)
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        with rq_app.app_context():
            events.emit(customer["id"], "conversion", {"conversion_id": 5}, customer["ref_code"])
            # Queued on the webhooks queue, not sent during the request.
            assert queue.get_queue(queue.WEBHOOKS).count == 1
            assert queue.get_queue(queue.DEFAULT).count == 0
        assert http_receiver.requests == []

        work(rq_app)
        assert len(http_receiver.requests) == 1
        with rq_app.app_context():
            assert queue.get_queue(queue.WEBHOOKS).scheduled_job_registry.count == 1  # retry

            traveller.shift(timedelta(seconds=61))
            assert deliveries.retry_due() == 1  # the sweep enqueues it as well
        work(rq_app)

        assert len(http_receiver.requests) == 2
        for request in http_receiver.requests:
            Webhook(secret).verify(request.body, request.headers)
    with rq_app.app_context():
        [delivery] = db.session.scalars(select(WebhookDelivery)).all()
        assert (delivery.status, delivery.attempts) == ("sent", 2)
