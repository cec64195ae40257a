"""register-lead answers before the work (issue 14 item 7; participants/intake.py): one
encrypted intake row per request, processed by a job after the answer, swept when its job
was lost, deleted when done and after a day at the latest."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from jobs import scheduled
from referral_app.core import crypto
from referral_app.extensions import db
from referral_app.models import Customer, OutgoingMail, Participant, SignupIntake, utcnow
from referral_app.participants import signup as signups

from .support_mail import smtp_server  # noqa: F401
from .support_participants import OWN_BROWSER, count, setup_program

pytestmark = pytest.mark.both_backends

START = "2026-03-02 09:00:00"
IP = "203.0.113.77"


@pytest.fixture
def intake_app(make_app, smtp_server, customer):  # noqa: F811
    app = make_app(**smtp_server.config)
    setup_program(app, customer["id"], milestones=False)
    return app


def _fields(customer, address: str = "anna@example.org") -> dict:
    return {"ref": customer["ref_code"], "email": address, "consent": True, "name": "Anna"}


def _rows(app) -> list[SignupIntake]:
    with app.app_context():
        return list(db.session.scalars(select(SignupIntake)))


def test_the_row_waits_for_the_answer_holds_no_raw_data_and_goes_when_processed(
    intake_app, customer
):
    response = intake_app.test_client().post(
        "/api/referral/register-lead",
        json=_fields(customer, "Anna.Raw@Example.org"),
        headers={"User-Agent": OWN_BROWSER},
        environ_base={"REMOTE_ADDR": IP},
        keep_open=True,
    )
    assert response.status_code == 202
    [row] = _rows(intake_app)
    assert count(intake_app, Participant) == 0  # the answer came before the sign-up
    for raw in (b"anna.raw", b"Anna.Raw", IP.encode(), OWN_BROWSER.encode()[:20]):
        assert raw not in row.payload
    with intake_app.app_context():
        text = crypto.decrypt(row.payload)
    assert "anna.raw@example.org" in text and IP not in text and OWN_BROWSER not in text
    assert '"ip_hash"' in text and "shared_ip_hash" not in text
    response.close()  # the job runs after the answer
    assert _rows(intake_app) == []
    assert count(intake_app, Participant) == 1
    assert count(intake_app, OutgoingMail) == 1


def test_a_row_whose_job_was_lost_is_processed_by_the_minute_sweep(intake_app, customer):
    with time_machine.travel(START, tick=False) as traveller, intake_app.app_context():
        intake_id = signups.take_in(_fields(customer), IP, OWN_BROWSER)  # no job
        assert scheduled.retry_mails()["signups_left_behind"] == 0  # its job may be coming
        traveller.shift(31)
        assert scheduled.retry_mails()["signups_left_behind"] == 1
        assert signups.process(intake_id) is None  # done: nothing left to claim
    assert _rows(intake_app) == []
    assert count(intake_app, Participant) == 1


def test_two_jobs_for_one_row_sign_up_once_and_a_dead_claim_is_taken_again(intake_app, customer):
    with time_machine.travel(START, tick=False) as traveller, intake_app.app_context():
        first = signups.take_in(_fields(customer), IP, OWN_BROWSER)
        second = signups.take_in(_fields(customer, "bert@example.org"), IP, OWN_BROWSER)
        assert signups.process(first) == "registered"
        assert signups.process(first) is None
        # A process that claimed `second` died: the claim holds for ten minutes.
        db.session.execute(update(SignupIntake).values(claimed_at=utcnow()))
        db.session.commit()
        assert signups.process(second) is None
        traveller.shift(timedelta(minutes=11))
        assert scheduled.retry_mails()["signups_left_behind"] == 1
    assert _rows(intake_app) == []
    assert count(intake_app, Participant) == 2


def test_a_row_whose_program_was_switched_off_is_dropped(intake_app, customer):
    with intake_app.app_context():
        intake_id = signups.take_in(_fields(customer), IP, OWN_BROWSER)
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
        assert signups.process(intake_id) == "dropped"
    assert _rows(intake_app) == []
    assert count(intake_app, Participant) == 0


def test_the_daily_run_deletes_rows_older_than_a_day(intake_app, customer):
    with time_machine.travel(START, tick=False) as traveller, intake_app.app_context():
        signups.take_in(_fields(customer), IP, OWN_BROWSER)
        db.session.execute(update(SignupIntake).values(claimed_at=utcnow()))  # stuck
        db.session.commit()
        traveller.shift(timedelta(hours=23))
        assert scheduled.daily()["signup_intake_deleted"] == 0
        traveller.shift(timedelta(hours=2))
        assert scheduled.daily()["signup_intake_deleted"] == 1
    assert _rows(intake_app) == []
