"""Fault tests with real services, part two: the jobs. Redis killed mid-run, a worker killed
mid-job, the SMTP server down — and nothing is lost or sent twice (docs/jobs.md "Faults").

Every test that queues with RQ brings its own redis-server on a free loopback port
(tests/support_services.py), so it runs on both backends — on SQLite as much as on MariaDB
the queue is RQ on that Redis — and the test may kill it. The shared Redis is never touched.
Worker processes are real `flask --app wsgi worker` subprocesses (tests/support_faults.py).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rq import Callback
from rq.job import Job, JobStatus
from sqlalchemy import select

from jobs import mail as mail_jobs
from jobs import scheduled
from referral_app.core import queue
from referral_app.extensions import db
from referral_app.models import OutgoingMail, RewardGrant, SignupIntake, WebhookDelivery
from referral_app.tracking import recount, stats

from .conftest import api_key_for
from .support_faults import (
    HELD_MARK,
    hold_after_commit,
    holding_smtp,  # noqa: F401
    kill_redis,
    wait_until,
    workers,  # noqa: F401
)
from .support_http import http_receiver  # noqa: F401
from .support_mail import smtp_server, text_of  # noqa: F401
from .support_participants import (
    BROWSER,
    confirm_by_form,
    count,
    mails,
    participant_row,
    refer,
    setup_program,
    signup,
    token_from,
)
from .support_services import private_redis  # noqa: F401

pytestmark = pytest.mark.both_backends  # real services killed under both engines

REWARD_TEXT = "Gutscheincode BRONZE-2024"  # the Bronze milestone's delivery (setup_program)


def rq_config(redis_url: str) -> dict:
    return {"REDIS_URL": redis_url, "JOBS_INLINE": False, "RQ_QUEUE": "faults"}


def burst(app) -> None:
    """`flask worker --burst`: one schedule tick (the sweep), then work off the queue."""
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output


def reward_mails_received(smtp, address: str) -> int:
    return sum(REWARD_TEXT in text_of(m) for m in smtp.to(address))


def participant_with_reward(make_app, smtp, customer, address: str):
    """A confirmed participant whose three referrals reached the Bronze milestone (granted
    in the conversion's transaction); their reward mail is not queued yet — that is the
    daily job's. Made on an app that sends mail in-process, an hour ago."""
    app = make_app(**smtp.config)
    setup_program(app, customer["id"])
    client = app.test_client()
    with time_machine.travel(datetime.now(UTC) - timedelta(hours=1), tick=True) as traveller:
        assert signup(client, customer["ref_code"], address).status_code == 202
        confirm_by_form(client, token_from(smtp.to(address)[-1]))
        participant = participant_row(app, address)
        refer(client, participant.ref_code, 3, traveller)
    assert count(app, RewardGrant, RewardGrant.participant_id == participant.id) == 1
    return participant


def assert_one_grant_mailed(app, participant_id: int) -> None:
    with app.app_context():
        [grant] = db.session.scalars(
            select(RewardGrant).where(RewardGrant.participant_id == participant_id)
        ).all()
        assert grant.revoked_at is None and grant.mail_sent_at is not None


# --- 1. Redis killed mid-run ---------------------------------------------------------------


class Traffic:
    """Visitors one after another in a thread, each from an address of their own: a click,
    then a conversion on it, every third one signs up, every fifth sends a request without
    a code. Every answer is kept with the phase it was sent in."""

    def __init__(self, app, ref: str) -> None:
        self.client = app.test_client()
        self.ref = ref
        self.phase = "up"
        self.answers: list[tuple[str, str, int, dict]] = []
        self.signups: list[tuple[str, str]] = []  # (phase, address)
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _post(self, kind: str, path: str, body: dict, ip: str, ua: str) -> dict:
        phase = self.phase
        response = self.client.post(
            path, json=body, headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip}
        )
        payload = response.get_json(silent=True) or {}
        self.answers.append((phase, kind, response.status_code, payload))
        return payload

    def _visitor(self, n: int) -> None:
        ip, ua = f"198.18.{n // 200}.{n % 200 + 1}", f"{BROWSER} Visitor/{n}"
        click = self._post(
            "click", "/api/referral/track-click", {"ref": self.ref, "page": "/freebie"}, ip, ua
        )
        self._post(
            "conversion",
            "/api/referral/track-conversion",
            {"ref": self.ref, "click_id": click.get("click_id")},
            ip,
            ua,
        )
        if n % 3 == 0:
            address, phase = f"visitor{n}@example.org", self.phase
            self._post(
                "register",
                "/api/referral/register-lead",
                {"ref": self.ref, "email": address, "consent": True},
                ip,
                ua,
            )
            self.signups.append((phase, address))
        if n % 5 == 0:
            self._post("bad", "/api/referral/track-click", {"page": "/freebie"}, ip, ua)

    def _run(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                self._visitor(n)
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, more: int) -> None:
        target = len(self.answers) + more
        wait_until(lambda: len(self.answers) >= target or self.errors, f"{more} more answers")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()
        assert self.errors == []


def burst_of_clicks(client, ref: str, ip: str, n: int) -> list[tuple[int, dict]]:
    """One visitor clicking `n` times: (status code, JSON) of each answer."""
    answers = []
    for _ in range(n):
        response = client.post(
            "/api/referral/track-click",
            json={"ref": ref},
            headers={"User-Agent": BROWSER},
            environ_base={"REMOTE_ADDR": ip},
        )
        answers.append((response.status_code, response.get_json()))
    return answers


@pytest.mark.slow
def test_tracking_answers_while_redis_is_killed_and_queued_work_runs_when_it_is_back(
    make_app,
    customer,
    private_redis,  # noqa: F811
    smtp_server,  # noqa: F811
    http_receiver,  # noqa: F811
):
    app = make_app(
        **smtp_server.config,
        **rq_config(private_redis.url),
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=private_redis.url,
        RATELIMIT_PUBLIC_API="5/hour",
        FRAUD_FAST_CONVERSION_SECONDS=0,  # the traffic converts at once; not what is tested
        WEBHOOK_ALLOW_PRIVATE=True,
    )
    setup_program(app, customer["id"], milestones=False)
    ref = customer["ref_code"]
    created = app.test_client().post(
        "/api/referral/webhooks",
        json={"url": http_receiver.url, "events": ["lead.registered"]},
        headers={"Authorization": f"Bearer {api_key_for(app, customer['user_id'])}"},
    )
    assert created.status_code == 201
    limited = app.test_client()

    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        traffic = Traffic(app, ref)
        traffic.start()
        traffic.wait_for(30)
        bursts = burst_of_clicks(limited, ref, "192.0.2.10", 6)  # counted in Redis
        assert [status for status, _json in bursts] == [200] * 5 + [429]

        kill_redis(private_redis)
        traffic.phase = "down"
        traffic.wait_for(40)
        # The limits fell back to this process's memory: they still hold, counted afresh.
        bursts += burst_of_clicks(limited, ref, "192.0.2.11", 6)
        assert [status for status, _json in bursts[6:]] == [200] * 5 + [429]
        assert bursts[-1][1]["error"] == "rate_limited"

        traffic.phase = "back"
        private_redis.start()  # on the same port, empty: what was queued in it is gone
        traffic.wait_for(30)
        traffic.stop()

        # Every answer is the contract's, none a 5xx.
        for phase, kind, status, payload in traffic.answers:
            expected = {"click": 200, "conversion": 200, "register": 202, "bad": 400}[kind]
            assert (status, payload.get("ok")) == (expected, expected < 400), (phase, kind)
            if kind in ("click", "conversion"):
                assert payload["status"] in ("tracked", "duplicate", "blocked")
            elif kind == "register":
                assert payload["status"] == "confirmation_sent"
            else:
                assert payload["error"] == "invalid_ref"
        assert {phase for phase, *_rest in traffic.answers} == {"up", "down", "back"}
        assert [p for p, _a in traffic.signups].count("down") >= 3

        # The counters are exact, whichever store the fraud rules counted in.
        clicks = [p["status"] for _ph, kind, _s, p in traffic.answers if kind == "click"]
        clicks += [payload["status"] for status, payload in bursts if status == 200]
        with app.app_context():
            assert recount.rebuild(check=True)["differences"] == 0
            totals = stats.totals(customer["id"])
        assert totals["unique_clicks"] == clicks.count("tracked")
        assert totals["clicks"] == clicks.count("tracked") + clicks.count("duplicate")
        # A sign-up is processed by its job after the answer: in this process while Redis
        # was away, by a worker (none ran yet) otherwise.
        down = [p for p, _a in traffic.signups].count("down")
        assert down <= totals["leads"] < len(traffic.signups)

        # No worker ran yet. Now one does, a minute later: the sweep finds every mail and
        # delivery whose job was lost with Redis or never got into it.
        assert smtp_server.messages == []
        traveller.shift(61)
        burst(app)

    # The sweep also found the sign-ups whose jobs were lost with Redis: each counted once.
    with app.app_context():
        assert stats.totals(customer["id"])["leads"] == len(traffic.signups)
        assert db.session.scalars(select(SignupIntake)).all() == []
    addresses = [address for _phase, address in traffic.signups]
    for address in addresses:
        [confirmation] = smtp_server.to(address)
        assert "/api/referral/confirm-lead?token=" in text_of(confirmation)
    assert len(smtp_server.messages) == len(addresses)
    assert {status for _kind, status, _n in mails(app)} == {"sent"}
    with app.app_context():
        deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert deliveries and {d.status for d in deliveries} == {"sent"}
    received = [
        {k.lower(): v for k, v in r.headers.items()}["webhook-id"] for r in http_receiver.requests
    ]
    assert sorted(received) == sorted(d.msg_id for d in deliveries)  # each exactly once

    # A sign-up made during the outage completes its double opt-in.
    outage_address = next(address for phase, address in traffic.signups if phase == "down")
    confirmed = confirm_by_form(app.test_client(), token_from(smtp_server.to(outage_address)[0]))
    assert confirmed.status_code in (200, 302, 303)
    burst(app)
    assert len(smtp_server.to(outage_address)) == 2  # the confirmation, then the welcome


def test_a_sign_up_while_redis_is_down_is_answered_and_its_mail_sent_later(
    make_app,
    customer,
    private_redis,  # noqa: F811
    smtp_server,  # noqa: F811
):
    """The short form of the test above: enqueueing a job never fails the request."""
    app = make_app(**smtp_server.config, **rq_config(private_redis.url))
    setup_program(app, customer["id"], milestones=False)
    kill_redis(private_redis)
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        response = signup(app.test_client(), customer["ref_code"], "anna@example.org")
        assert (response.status_code, response.get_json()["ok"]) == (202, True)
        assert mails(app) == [("confirmation", "pending", 0)]
        private_redis.start()
        traveller.shift(61)
        burst(app)
    assert len(smtp_server.to("anna@example.org")) == 1
    assert mails(app) == [("confirmation", "sent", 1)]


def test_a_periodic_run_that_could_not_be_enqueued_is_tried_again(
    make_app,
    private_redis,  # noqa: F811
    monkeypatch,
):
    """Redis going away between a run's claim and its enqueue cannot be timed with a real
    server, so that one step is faked: the claim is given back for the next tick."""
    from jobs import worker

    app = make_app(**rq_config(private_redis.url))
    now = datetime(2026, 3, 2, 9, 0, 30)
    with app.app_context():
        with monkeypatch.context() as patch:
            patch.setattr(queue, "enqueue", lambda *args, **kwargs: False)
            assert worker.tick(now) == []
        assert worker.tick(now) == ["retry_mails", "daily", "monthly"]
        assert worker.tick(now) == []
        assert queue.get_queue().count == 3


# --- 2. A worker killed mid-job ------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_send_is_retried_and_the_reward_mail_arrives_once(
    make_app,
    customer,
    private_redis,  # noqa: F811
    holding_smtp,  # noqa: F811
    workers,  # noqa: F811
):
    address = "anna@example.org"
    anna = participant_with_reward(make_app, holding_smtp, customer, address)
    app = make_app(**holding_smtp.config, **rq_config(private_redis.url))

    holding_smtp.hold()
    # Its schedule runs the daily job at start: the reward mail is queued and sent.
    first = workers.start(app, MAIL_LEASE_SECONDS="3", MAIL_TIMEOUT="300")
    wait_until(lambda: holding_smtp.held == 1, "the worker is mid-send", timeout=120)
    workers.kill(first)
    holding_smtp.release()
    assert mails(app, kind="reward") == [("reward", "pending", 1)]  # leased to the dead one
    assert reward_mails_received(holding_smtp, address) == 0

    with app.app_context():
        [abandoned] = queue.get_queue(queue.MAIL).started_job_registry.get_job_ids()
    workers.start(app)

    def delivered() -> bool:
        with app.app_context():
            scheduled.retry_mails()  # the every-minute sweep, run now instead of waiting
        return mails(app, kind="reward") == [("reward", "sent", 2)]

    wait_until(delivered, "the reward mail sent by the new worker", timeout=120)
    assert reward_mails_received(holding_smtp, address) == 1
    assert holding_smtp.held == 1
    assert_one_grant_mailed(app, anna.id)
    with app.app_context():
        assert scheduled.retry_mails()["mails_due"] == 0
        # Not RQ's doing: it has not run the abandoned job again (and, once the job's time
        # is up, moves it to the failed jobs); the lease ran out and the sweep re-sent it.
        job = Job.fetch(abandoned.split(":")[0], connection=queue.get_queue(queue.MAIL).connection)
        assert (job.func_name, job.get_status()) == ("jobs.mail.send", JobStatus.STARTED)


@pytest.mark.slow
def test_a_worker_killed_after_the_commit_before_rq_finished_sends_no_second_mail(
    make_app,
    customer,
    private_redis,  # noqa: F811
    holding_smtp,  # noqa: F811
    workers,  # noqa: F811
):
    address = "anna@example.org"
    anna = participant_with_reward(make_app, holding_smtp, customer, address)
    app = make_app(**holding_smtp.config, **rq_config(private_redis.url))
    with app.app_context():
        assert scheduled.daily()["reward_mails_queued"] == 1
        q = queue.get_queue(queue.MAIL)
        mail_id = db.session.scalar(select(OutgoingMail.id).where(OutgoingMail.kind == "reward"))
        q.empty()  # the same job again, held after its commit by a success callback
        job = q.enqueue(mail_jobs.send, mail_id, on_success=Callback(hold_after_commit, 600))

    first = workers.start(app)
    wait_until(lambda: q.connection.get(HELD_MARK), "the job committed, RQ not told", 120)
    assert mails(app, kind="reward") == [("reward", "sent", 1)]
    assert reward_mails_received(holding_smtp, address) == 1
    workers.kill(first)
    assert job.get_status() == JobStatus.STARTED  # RQ never learnt that it finished

    workers.start(app)
    with app.app_context():
        assert scheduled.retry_mails()["mails_due"] == 0
    # RQ's abandoned-job handling (forced now), then an operator requeues it (`rq requeue`).
    q.started_job_registry.cleanup(time.time() + 3600)
    assert job.get_status() == JobStatus.FAILED
    q.failed_job_registry.requeue(job.id)
    wait_until(lambda: job.get_status() == JobStatus.FINISHED, "the requeued job ran", 120)
    assert job.return_value() == "skipped"

    assert reward_mails_received(holding_smtp, address) == 1
    assert mails(app, kind="reward") == [("reward", "sent", 1)]
    assert_one_grant_mailed(app, anna.id)


# --- 3. SMTP down --------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["in-process", "rq"])
def test_welcome_and_reward_mails_sent_while_smtp_is_down_arrive_once_it_is_back(
    request,
    make_app,
    customer,
    smtp_server,  # noqa: F811
    jobs,
):
    """The confirmation mail's case is tests/test_jobs.py; these are the other two kinds."""
    extra = rq_config(request.getfixturevalue("private_redis").url) if jobs == "rq" else {}
    app = make_app(**smtp_server.config, **extra)
    setup_program(app, customer["id"])
    client = app.test_client()
    address = "anna@example.org"

    def work() -> None:
        if jobs == "rq":
            burst(app)
        else:
            with app.app_context():
                scheduled.retry_mails()

    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        signup(client, customer["ref_code"], address)
        work()
        [confirmation] = smtp_server.to(address)
        smtp_server.stop()
        confirm_by_form(client, token_from(confirmation))
        anna = participant_row(app, address)
        refer(client, anna.ref_code, 3, traveller)
        with app.app_context():
            assert scheduled.daily()["reward_mails_queued"] == 1
        work()
        assert [(kind, status) for kind, status, _n in mails(app)] == [
            ("confirmation", "sent"),
            ("welcome", "pending"),
            ("reward", "pending"),
        ]

        smtp_server.start()
        traveller.shift(150)  # past the first retry delays and the sweep's minute
        work()
        traveller.shift(150)
        work()  # nothing more to send

    received = [text_of(m) for m in smtp_server.to(address)]
    assert len(received) == 3  # the confirmation, the welcome and the reward: once each
    assert sum("/api/referral/confirm-lead?token=" in text for text in received) == 1
    assert reward_mails_received(smtp_server, address) == 1
    assert [status for _kind, status, _n in mails(app)] == ["sent"] * 3
    assert_one_grant_mailed(app, anna.id)
