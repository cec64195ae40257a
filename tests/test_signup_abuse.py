"""Issue 14, items 4 and 7: the public sign-up cannot be used to bomb a mailbox, to spam
through the name field, or to learn by the answer (or its timing) whether an address
takes part. Real SMTP server, real database (and Redis on the MariaDB run)."""

from __future__ import annotations

import time

import pytest
import time_machine
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import OutgoingMail, Participant
from referral_app.participants import names

from .support_mail import smtp_server, text_of  # noqa: F401
from .support_participants import (
    OWN_BROWSER,
    confirm_by_form,
    count,
    mails,
    participant_row,
    setup_program,
    signup,
    token_from,
)

pytestmark = pytest.mark.both_backends  # the counters: database rows or Redis

START = "2026-03-02 09:00:00"


@pytest.fixture
def abuse_app(make_app, smtp_server, customer):  # noqa: F811
    app = make_app(**smtp_server.config, SIGNUP_MAILS_PER_MAILBOX_DAY=3)
    setup_program(app, customer["id"], milestones=False)
    return app


def _second_program(app) -> str:
    from referral_app.accounts import users as accounts

    with app.app_context():
        other, _user = accounts.create_customer("zwei@example.com", "kunden-passwort", "Zwei GmbH")
        other.imprint, other.privacy_url = "Zwei GmbH", "https://zwei.example/datenschutz"
        other.referral_enabled = True
        db.session.commit()
        return other.ref_code


def _outbox(app) -> list[tuple[str, str]]:
    return [(kind, status) for kind, status, _n in mails(app)]


# --- item 4: mail bombing --------------------------------------------------------------------


def test_plus_tags_reach_one_mailbox_only_three_times_a_day_across_programs(
    abuse_app, smtp_server, customer, caplog
):
    client = abuse_app.test_client()
    other = _second_program(abuse_app)
    with time_machine.travel(START, tick=True) as traveller:
        answers = [
            signup(client, customer["ref_code"] if n % 2 else other, f"victim+{n}@example.net")
            for n in range(1, 6)
        ]
        assert {(a.status_code, a.get_data()) for a in answers} == {(202, answers[0].get_data())}
        assert len(smtp_server.messages) == 3  # victim+1..+3; +4 and +5 withheld
        assert count(abuse_app, Participant) == 5  # every sign-up kept, pending
        assert sorted(s for _k, s in _outbox(abuse_app)) == ["sent"] * 3 + ["withheld"] * 2
        withheld = [r.message for r in caplog.records if "withheld" in r.message]
        assert len(withheld) == 2 and not any("victim" in line for line in withheld)

        # A withheld person is pending in the customer's list, and the next day's sign-up
        # gets its mail.
        assert participant_row(abuse_app, "victim+5@example.net").status == "pending"
        traveller.shift(24 * 3600 + 60)
        signup(client, customer["ref_code"], "victim+5@example.net")
        assert len(smtp_server.to("victim+5@example.net")) == 1


def test_gmail_dots_and_googlemail_count_as_one_mailbox(abuse_app, smtp_server, customer):
    client = abuse_app.test_client()
    for address in (
        "anna.berg@gmail.com",
        "a.n.n.a.berg@gmail.com",
        "annaberg+x@googlemail.com",
        "ANNA.B.E.R.G@gmail.com",
        "ann.aberg+y@gmail.com",
    ):
        assert signup(client, customer["ref_code"], address).status_code == 202
    assert len(smtp_server.messages) == 3
    # Another mailbox is not affected; dots count at other providers.
    signup(client, customer["ref_code"], "anna.berg@example.net")
    signup(client, customer["ref_code"], "annaberg@example.net")
    assert len(smtp_server.messages) == 5


def test_a_program_sends_its_hourly_sign_up_mails_and_the_rest_wait(
    make_app, smtp_server, customer
):
    from jobs import mail as mail_jobs

    app = make_app(**smtp_server.config, SIGNUP_MAILS_PER_PROGRAM_HOUR=2)
    setup_program(app, customer["id"], milestones=False)
    client = app.test_client()
    from .conftest import AuthActions

    with time_machine.travel(START, tick=True) as traveller:
        answers = [signup(client, customer["ref_code"], f"p{n}@example.org") for n in range(4)]
        assert [a.status_code for a in answers] == [202] * 4  # accepted, never lost
        assert len(smtp_server.messages) == 2
        assert _outbox(app).count(("confirmation", "pending")) == 2

        # The customer is told on the overview.
        owner = app.test_client()
        AuthActions(owner).login(customer["email"], customer["password"])
        page = owner.get("/dashboard/").get_data(as_text=True)
        assert 'id="waiting-mails"' in page and ": 2." in page

        traveller.shift(11 * 60)  # still within the hour: they keep waiting
        with app.app_context():
            mail_jobs.sweep()
        assert len(smtp_server.messages) == 2
        traveller.shift(50 * 60)  # the next hour: the waiting ones go out, in order
        with app.app_context():
            mail_jobs.sweep()
        assert sorted(str(m["To"]) for m in smtp_server.messages) == [
            f"p{n}@example.org" for n in range(4)
        ]
        assert {s for _k, s in _outbox(app)} == {"sent"}
        with app.app_context():
            attempts = db.session.scalars(select(OutgoingMail.attempts)).all()
        assert attempts == [1, 1, 1, 1]  # waiting used up no retry
        page = owner.get("/dashboard/").get_data(as_text=True)
        assert 'id="waiting-mails"' not in page


# --- item 4: the name ----------------------------------------------------------------------


BAD_NAMES = [
    "Ihr Gewinn: 500 EUR – jetzt abholen unter https://gewinn.example",
    "Gewinn bei gewinn.de",
    "Anna www.example",
    "Anna\r\nBcc: x@example.org",
    "Anna\nBerg",
    "Anna\tBerg",
    "Anna\u200bBerg",  # zero-width space
    "Anna \u202eBerg",  # right-to-left override
    "anna@example.org",
    "Anna＠example．org",  # fullwidth look-alikes
    "Klick hxxp://bit.ly/x http",
    "A" * 61,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_with_links_or_control_characters_is_refused_and_nothing_stored(
    abuse_app, smtp_server, customer, name
):
    response = signup(abuse_app.test_client(), customer["ref_code"], "anna@example.org", name=name)
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["error"] == "validation_failed"
    assert body["fields"]["name"] and body["message"]
    assert count(abuse_app, Participant) == 0 and count(abuse_app, OutgoingMail) == 0
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Anna   Berg ", "Anna Berg"),
        ("Zoe\u0308", "Zoë"),  # NFC
        ("Anna\u00a0Berg", "Anna Berg"),
        ("Dr. M. Berg-Schmidt", "Dr. M. Berg-Schmidt"),
        ("O’Brien", "O’Brien"),
        ("A" * 60, "A" * 60),
    ],
)
def test_names_are_trimmed_and_normalised(abuse_app, smtp_server, customer, typed, stored):
    response = signup(abuse_app.test_client(), customer["ref_code"], "anna@example.org", name=typed)
    assert response.status_code == 202
    from referral_app.core import crypto

    row = participant_row(abuse_app, "anna@example.org")
    with abuse_app.app_context():
        assert crypto.decrypt(row.name_encrypted) == stored


def test_mails_greet_by_name_only_when_it_looks_like_one(abuse_app, smtp_server, customer):
    client = abuse_app.test_client()
    signup(client, customer["ref_code"], "anna@example.org", name="Anna")
    signup(client, customer["ref_code"], "bert@example.org", name="Ihr Gewinn: 500 EUR")
    signup(client, customer["ref_code"], "carl@example.org")
    [anna] = smtp_server.to("anna@example.org")
    [bert] = smtp_server.to("bert@example.org")
    [carl] = smtp_server.to("carl@example.org")
    assert text_of(anna).splitlines()[0].strip() == "Hallo Anna,"
    assert text_of(bert).splitlines()[0].strip() == "Hallo,"
    assert "Gewinn" not in text_of(bert) and "500" not in text_of(bert)
    assert text_of(carl).splitlines()[0].strip() == "Hallo,"
    # ... and the welcome mail after confirming, for a name stored before these rules.
    from referral_app.core import crypto

    with abuse_app.app_context():
        row = db.session.get(Participant, participant_row(abuse_app, "bert@example.org").id)
        row.name_encrypted = crypto.encrypt("Hallo https://gewinn.example")
        db.session.commit()
    confirm_by_form(client, token_from(bert))
    welcome = smtp_server.to("bert@example.org")[-1]
    assert text_of(welcome).splitlines()[0].strip() == "Hallo,"
    assert "gewinn" not in text_of(welcome)


@pytest.mark.parametrize(
    ("stored", "greeted"),
    [
        ("Anna", "Anna"),
        ("Anna-Lena O’Brien", "Anna-Lena O’Brien"),
        ("Ihr Gewinn: 500 EUR", ""),
        ("Anna (Team)", ""),
        ("https://x.example", ""),
        ("Anna\nBcc: x", ""),
        (None, ""),
        ("", ""),
    ],
)
def test_greeting_name(app_ctx, stored, greeted):
    assert names.greeting_name(stored) == greeted


# --- item 7: no enumeration ----------------------------------------------------------------


def _answer(response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
    return response.status_code, response.get_data(), headers


def test_new_known_pending_and_confirmed_addresses_get_identical_answers(
    abuse_app, smtp_server, customer
):
    client = abuse_app.test_client()
    ref = customer["ref_code"]
    with time_machine.travel(START, tick=True):
        new = signup(client, ref, "anna@example.org")
        pending = signup(client, ref, "anna@example.org")
        confirm_by_form(client, token_from(smtp_server.to("anna@example.org")[0]))
        confirmed = signup(client, ref, "anna@example.org")
        other = signup(client, ref, "bert@example.org")
    assert _answer(new) == _answer(pending) == _answer(confirmed) == _answer(other)
    assert new.status_code == 202 and new.get_json() == {
        "ok": True,
        "status": "confirmation_sent",
    }


def test_a_confirmed_address_signing_up_again_gets_already_in_mail_only(
    abuse_app, smtp_server, customer
):
    client = abuse_app.test_client()
    with time_machine.travel(START, tick=True) as traveller:
        signup(client, customer["ref_code"], "anna@example.org")
        confirm_by_form(client, token_from(smtp_server.messages[-1]))
        traveller.shift(11 * 60)
        signup(client, customer["ref_code"], "anna@example.org")
    kinds = [kind for kind, _status in _outbox(abuse_app)]
    assert kinds == ["confirmation", "welcome", "already_in"]
    assert "/hub/" in text_of(smtp_server.messages[-1])
    assert "confirm-lead" not in text_of(smtp_server.messages[-1])


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann–Whitney U test (normal approximation with tie
    correction; fine for 40 + 40 samples)."""
    from math import erf, sqrt

    pooled = sorted((value, group) for group, sample in ((0, a), (1, b)) for value in sample)
    ranks: list[float] = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    n1, n2 = len(a), len(b)
    u = sum(r for r, (_v, group) in zip(ranks, pooled, strict=True) if group == 0)
    u -= n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma if sigma else 0.0
    return max(0.0, min(1.0, 1 - erf(z / sqrt(2))))


def test_mann_whitney_tells_apart_what_differs_and_not_what_does_not():
    same = mann_whitney_p([float(n % 7) for n in range(40)], [float(n % 7) for n in range(40)])
    shifted = mann_whitney_p([float(n) for n in range(40)], [float(n + 20) for n in range(40)])
    assert same > 0.9 and shifted < 1e-4


def _time_answer(client, ref: str, address: str) -> float:
    """The time until the answer is there; what runs after it (the mail job) is not
    measured: the response stays open until closed, as a server sends it first."""
    started = time.perf_counter()
    response = client.post(
        "/api/referral/register-lead",
        json={"ref": ref, "email": address, "consent": True},
        headers={"User-Agent": OWN_BROWSER},
        keep_open=True,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    response.close()  # now the mail job runs
    return elapsed


def _known_and_new_answer_times(client, ref: str) -> tuple[list[float], list[float]]:
    """40 known and 40 new sign-ups, interleaved (a busy machine slows both alike)."""
    for n in range(3):  # warm-up: compiled statements, the day's salt, template caches
        _time_answer(client, ref, f"warm{n}@example.org")
        _time_answer(client, ref, f"warm{n}@example.org")
    _time_answer(client, ref, "known@example.org")
    known: list[float] = []
    new: list[float] = []
    for n in range(40):
        pair = [("known", "known@example.org"), ("new", f"new{n}@example.org")]
        for label, address in pair if n % 2 else reversed(pair):
            (known if label == "known" else new).append(_time_answer(client, ref, address))
    return known, new


def test_the_answer_for_a_new_address_no_longer_waits_for_its_mail(
    abuse_app, smtp_server, customer, backend_name
):
    """Before the change the mail was sent before the answer: a new address took ~3x a
    known one (median ratio 2.96, the samples fully apart). Now the mail job runs after
    the answer; what is left is the new row's insert (ratio 1.1-1.7 over runs, loaded box
    included). SQLite only (MariaDB: benchmarks/signup_timing.py)."""
    if backend_name != "sqlite":
        pytest.skip("the MariaDB residual is measured by benchmarks/signup_timing.py")
    known, new = _known_and_new_answer_times(abuse_app.test_client(), customer["ref_code"])
    median_ratio = sorted(new)[20] / sorted(known)[20]
    assert median_ratio < 2.2, (median_ratio, mann_whitney_p(known, new))


def test_known_and_new_addresses_take_indistinguishable_time(
    abuse_app, smtp_server, customer, backend_name
):
    """Issue 14 item 7: a rank test (Mann-Whitney U) on 40 + 40 interleaved answer times
    cannot tell known from new addresses. The answer comes before the sign-up's work (one
    intake row of the same shape for every address; participants/intake.py); before, the
    new row's insert made a new address ~15 % slower (p ~ 1e-4 on a quiet box). SQLite only
    (MariaDB: benchmarks/signup_timing.py)."""
    if backend_name != "sqlite":
        pytest.skip("the MariaDB figure is measured by benchmarks/signup_timing.py")
    known, new = _known_and_new_answer_times(abuse_app.test_client(), customer["ref_code"])
    p = mann_whitney_p(known, new)
    assert p > 1e-3, (p, sorted(known)[20], sorted(new)[20])
