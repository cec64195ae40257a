"""The jobs: mail retries with a real SMTP server that goes down, the daily and monthly jobs,
the worker's schedule (in-process and with a real RQ worker in burst mode)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from referral_app.extensions import db
from referral_app.models import (
    Click,
    Conversion,
    FraudLogEntry,
    HashSalt,
    OutgoingMail,
    Participant,
    ParticipantDevice,
    RewardGrant,
)
from referral_app.tracking import recount, stats

from .support_mail import smtp_server, text_of  # noqa: F401
from .support_participants import (
    confirm_by_form,
    count,
    mail_app,  # noqa: F401
    mails,
    participant_row,
    rebuild_check,
    refer,
    setup_program,
    signup,
    token_from,
)

pytestmark = pytest.mark.both_backends  # job leases and the RQ worker need MariaDB + Redis

START = "2026-03-02 09:00:00"


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def _confirmed_participant(app, client, smtp, ref: str, email: str = "anna@example.org"):
    signup(client, ref, email)
    hub = confirm_by_form(client, token_from(smtp.to(email)[-1])).headers["Location"]
    return participant_row(app, email), hub


# --- mail delivery: retries, failure -------------------------------------------------------


def test_a_mail_sent_while_the_smtp_server_is_down_arrives_when_it_is_back(
    make_app, smtp_server, customer
):
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], milestones=False)
    smtp_server.stop()
    with time_machine.travel(START, tick=True) as traveller:
        response = signup(app.test_client(), customer["ref_code"], "anna@example.org")
        assert response.status_code == 202  # the visitor sees nothing of the outage
        assert mails(app) == [("confirmation", "pending", 1)]
        with app.app_context():
            mail = db.session.scalar(select(OutgoingMail))
            assert mail.last_error.startswith("ConnectionRefusedError")
            assert "anna" not in mail.last_error

        smtp_server.start()
        traveller.shift(10)  # not due yet: the first retry waits 30 s
        with app.app_context():
            from jobs import mail as mail_jobs

            assert mail_jobs.sweep() == {"mails_due": 0}
        traveller.shift(25)
        with app.app_context():
            assert mail_jobs.sweep() == {"mails_due": 1}
    [message] = smtp_server.messages
    assert "/api/referral/confirm-lead?token=" in text_of(message)
    assert mails(app) == [("confirmation", "sent", 2)]


def test_after_the_last_attempt_a_mail_is_failed_for_the_customer_to_see(
    make_app, smtp_server, customer
):
    app = make_app(**smtp_server.config, MAIL_RETRY_DELAYS=[30, 60])
    setup_program(app, customer["id"], milestones=False)
    smtp_server.stop()
    with time_machine.travel(START, tick=True) as traveller, app.app_context():
        from jobs import mail as mail_jobs

        signup(app.test_client(), customer["ref_code"], "anna@example.org")
        traveller.shift(31)
        mail_jobs.sweep()
        assert mails(app) == [("confirmation", "pending", 2)]
        traveller.shift(61)
        mail_jobs.sweep()
        assert mails(app) == [("confirmation", "failed", 3)]
        traveller.shift(3600)
        assert mail_jobs.sweep() == {"mails_due": 0}
    assert smtp_server.messages == []


def test_a_mail_job_run_twice_sends_once(mail_app, smtp_server, customer):
    signup(mail_app.test_client(), customer["ref_code"], "anna@example.org")
    with mail_app.app_context():
        from jobs import mail as mail_jobs

        mail_id = db.session.scalar(select(OutgoingMail.id))
        assert mail_jobs.send(mail_id) == "skipped"
        assert mail_jobs.send(mail_id) == "skipped"
    assert len(smtp_server.messages) == 1


# --- the daily job -------------------------------------------------------------------------


def test_daily_deletes_unconfirmed_sign_ups_after_seven_days_and_keeps_the_aggregates(
    mail_app, smtp_server, customer
):
    client = mail_app.test_client()
    runner = mail_app.test_cli_runner()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "old-pending@example.org")
        _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        traveller.shift(6 * 86400)
        signup(client, customer["ref_code"], "young-pending@example.org")
        traveller.shift(1 * 86400 + 60)
        result = runner.invoke(args=["jobs", "run", "daily"])
    assert result.exit_code == 0, result.output
    summary = _last_json(result.output)
    assert summary["ok"] is True and summary["unconfirmed_deleted"] == 1
    assert participant_row(mail_app, "old-pending@example.org") is None
    assert participant_row(mail_app, "young-pending@example.org").status == "pending"
    assert participant_row(mail_app, "anna@example.org").status == "confirmed"
    with mail_app.app_context():
        totals = stats.totals(customer["id"])
    assert totals["leads"] == 3 and totals["confirmed_leads"] == 1
    assert rebuild_check(mail_app)["differences"] == 0
    check = runner.invoke(args=["stats", "rebuild", "--check"])
    assert check.exit_code == 0, check.output


def test_daily_rotates_the_hash_salts(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        for _day in range(3):
            traveller.shift(86400)
            client.get(_hub)  # a hub visit under each day's salt
        with mail_app.app_context():
            assert db.session.query(HashSalt).count() == 4
            summary = __import__("jobs.scheduled").scheduled.daily()
            assert summary["salts_deleted"] == 2 and summary["devices_deleted"] == 2
            assert db.session.query(HashSalt).count() == 2
            assert (
                db.session.query(ParticipantDevice)
                .filter(ParticipantDevice.participant_id == anna.id)
                .count()
                == 2
            )


def test_two_daily_runs_at_once_send_one_reward_mail(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        refer(client, anna.ref_code, 5, traveller)
    before = len(smtp_server.messages)
    results: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with mail_app.app_context():
                from jobs import scheduled

                results.append(scheduled.daily())
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r["reward_mails_queued"] for r in results) == 2  # Bronze and Silber, once each
    assert count(mail_app, RewardGrant) == 2
    new = smtp_server.messages[before:]
    assert sorted(m["Subject"].split(": ", 1)[1] for m in new) == ["Checkliste", "Workbook"]
    assert count(mail_app, OutgoingMail, OutgoingMail.kind == "reward") == 2


def test_a_referral_found_fraudulent_revokes_the_unsent_reward(mail_app, smtp_server, customer):
    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        refer(client, anna.ref_code, 3, traveller)
    with mail_app.app_context():
        db.session.execute(
            update(Conversion)
            .where(Conversion.id == db.session.scalar(select(Conversion.id).limit(1)))
            .values(suspicious=True, reasons=["manual_review"])
        )
        db.session.commit()
        recount.rebuild()  # the recount: 2 referrals, below the Bronze threshold
        grants = db.session.scalars(select(RewardGrant)).all()
        assert all(g.revoked_at is not None for g in grants)
    before = len(smtp_server.messages)
    summary = _last_json(mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"]).output)
    assert summary["reward_mails_queued"] == 0
    assert len(smtp_server.messages) == before


# --- the monthly job -----------------------------------------------------------------------


def test_monthly_deletes_raw_events_past_retention_and_keeps_every_aggregate(
    mail_app, smtp_server, customer
):
    client = mail_app.test_client()
    runner = mail_app.test_cli_runner()
    with time_machine.travel("2026-01-05 10:00:00", tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        refer(client, anna.ref_code, 3, traveller)
        runner.invoke(args=["jobs", "run", "daily"])
        with mail_app.app_context():
            db.session.add(
                FraudLogEntry(customer_id=customer["id"], type="velocity", details={"n": 1})
            )
            db.session.commit()
            totals_before = stats.totals(customer["id"])
        traveller.move_to("2026-05-01 10:00:00")
        refer(client, anna.ref_code, 2, traveller, first_ip=50)  # recent: kept

        runner.invoke(args=["jobs", "run", "daily"])  # mails the Silber reward
        traveller.move_to("2026-08-01 03:00:00")
        result = runner.invoke(args=["jobs", "run", "monthly"])
        assert result.exit_code == 0, result.output
        summary = _last_json(result.output)
    assert summary["clicks_deleted"] == 3 and summary["conversions_deleted"] == 3
    assert summary["fraud_log_deleted"] >= 1
    assert count(mail_app, Click) == 2 and count(mail_app, Conversion) == 2
    with mail_app.app_context():
        totals = stats.totals(customer["id"])
        assert totals["conversions"] == totals_before["conversions"] + 2
        assert totals["clicks"] == totals_before["clicks"] + 2
        anna_now = db.session.get(Participant, anna.id)
        assert anna_now.conversions == 5 and anna_now.referrals == 5
    check = rebuild_check(mail_app)
    assert check["differences"] == 0, (check["details"], check["reward_grants"])
    fixed = runner.invoke(args=["stats", "rebuild"])
    assert _last_json(fixed.output)["fixed"] == 0
    assert participant_row(mail_app, participant_id=anna.id).referrals == 5
    with mail_app.app_context():
        assert db.session.scalar(select(RewardGrant).where(RewardGrant.revoked_at.is_(None)))
    assert runner.invoke(args=["stats", "rebuild", "--check"]).exit_code == 0


def test_erasing_a_participant_after_the_monthly_cleanup_keeps_rebuild_exact(
    mail_app, smtp_server, customer
):
    client = mail_app.test_client()
    with time_machine.travel("2026-01-05 10:00:00", tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        refer(client, anna.ref_code, 2, traveller)
        traveller.move_to("2026-08-01 03:00:00")
        mail_app.test_cli_runner().invoke(args=["jobs", "run", "monthly"])
    with mail_app.test_request_context():
        from referral_app.participants import erasure

        erasure.erase_participant(customer["id"], anna.id, f"user:{customer['user_id']}")
    assert rebuild_check(mail_app)["differences"] == 0


# --- the worker ----------------------------------------------------------------------------


def test_worker_without_redis_runs_each_periodic_job_once_per_period(mail_app, customer):
    from jobs import worker

    def at(moment: datetime) -> list[str]:
        with time_machine.travel(moment, tick=False), mail_app.app_context():
            return worker.tick()

    start = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
    assert at(start) == ["retry_mails", "daily", "monthly"]
    assert at(start + timedelta(seconds=20)) == []
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        result = mail_app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert at(start + timedelta(minutes=1)) == ["retry_mails"]
    assert at(datetime(2026, 3, 3, 0, 0, 30, tzinfo=UTC)) == ["retry_mails", "daily"]
    assert at(datetime(2026, 4, 1, 0, 0, 30, tzinfo=UTC)) == ["retry_mails", "daily", "monthly"]


def test_jobs_run_prints_a_json_summary(mail_app):
    runner = mail_app.test_cli_runner()
    daily = runner.invoke(args=["jobs", "run", "daily"])
    monthly = runner.invoke(args=["jobs", "run", "monthly"])
    assert daily.exit_code == monthly.exit_code == 0
    assert _last_json(daily.output)["job"] == "daily"
    assert _last_json(monthly.output)["job"] == "monthly"
    assert runner.invoke(args=["jobs", "run", "weekly"]).exit_code != 0


@pytest.fixture
def rq_app(make_app, smtp_server, customer, backend_name):
    import os

    if backend_name != "mariadb" or not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("needs MariaDB and TEST_REDIS_URL: the RQ worker test runs in CI")
    app = make_app(**smtp_server.config, JOBS_INLINE=False)
    setup_program(app, customer["id"])
    return app


def test_the_whole_flow_with_redis_and_a_real_rq_worker(rq_app, smtp_server, customer):
    client = rq_app.test_client()
    runner = rq_app.test_cli_runner()

    def work() -> None:
        result = runner.invoke(args=["worker", "--burst"])
        assert result.exit_code == 0, result.output

    with time_machine.travel(START, tick=True) as traveller:
        assert signup(client, customer["ref_code"], "anna@example.org").status_code == 202
        assert smtp_server.messages == []  # queued in Redis, not sent in the request
        work()
        [confirmation] = smtp_server.messages
        hub = confirm_by_form(client, token_from(confirmation)).headers["Location"]
        work()
        assert token_from(smtp_server.messages[-1], "hub") == hub.removeprefix("/hub/")
        anna = participant_row(rq_app, "anna@example.org")
        refer(client, anna.ref_code, 3, traveller)

        before = len(smtp_server.messages)
        first = runner.invoke(args=["jobs", "run", "daily"])
        assert _last_json(first.output)["reward_mails_queued"] == 1
        work()
        [reward] = smtp_server.messages[before:]
        assert "Gutscheincode BRONZE-2024" in text_of(reward)

        second = runner.invoke(args=["jobs", "run", "daily"])
        assert _last_json(second.output)["reward_mails_queued"] == 0
        work()
        assert len(smtp_server.messages) == before + 1
    assert [status for _kind, status, _n in mails(rq_app)] == ["sent"] * 3


def test_rq_mail_retry_after_an_smtp_outage(rq_app, smtp_server, customer):
    client = rq_app.test_client()
    runner = rq_app.test_cli_runner()
    smtp_server.stop()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        assert runner.invoke(args=["worker", "--burst"]).exit_code == 0
        assert mails(rq_app) == [("confirmation", "pending", 1)]
        smtp_server.start()
        traveller.shift(timedelta(minutes=2).total_seconds())
        assert runner.invoke(args=["worker", "--burst"]).exit_code == 0  # the sweep is due
    assert len(smtp_server.messages) == 1
    assert mails(rq_app) == [("confirmation", "sent", 2)]


def test_a_referral_is_granted_in_its_conversion_and_mailed_by_the_daily_job(
    mail_app, smtp_server, customer
):
    """The tracking engine grants in the conversion's transaction (`grant_on_referral`): the
    ledger never lags behind the counters, and the daily job mails the reward once."""
    from referral_app.rewards import ledger as rewards

    client = mail_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        anna, _hub = _confirmed_participant(mail_app, client, smtp_server, customer["ref_code"])
        refer(client, anna.ref_code, 3, traveller)
    assert count(mail_app, RewardGrant, RewardGrant.participant_id == anna.id) == 1
    assert rebuild_check(mail_app)["differences"] == 0
    with mail_app.app_context():
        assert rewards.grant_on_referral(db.session, anna.id) == []  # idempotent
        db.session.commit()
    summary = _last_json(mail_app.test_cli_runner().invoke(args=["jobs", "run", "daily"]).output)
    assert summary["reward_grants"]["granted"] == 0 and summary["reward_mails_queued"] == 1
    assert "Gutscheincode BRONZE-2024" in text_of(smtp_server.messages[-1])
