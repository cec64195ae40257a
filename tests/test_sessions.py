"""Sessions and passwords (issue 14, items 9 and 13): a new session on login, logout ending
every session of the user, rotating remember-me tokens, password change and reset by mail,
the per-account login throttle and passwords for the CLI by prompt or stdin.

English pages (Accept-Language: en) so the assertions read the msgids. The tests marked
both_backends also run on MariaDB + Redis (the throttle counts then live in Redis)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import PasswordResetToken, RememberToken, User

from .conftest import TEST_REDIS_URL
from .support_mail import links_in, smtp_server, text_of  # noqa: F401

EN = {"Accept-Language": "en"}
COOKIE = "stay_logged_in"


def csrf_of(client, path: str = "/login") -> str:
    page = client.get(path, headers=EN, follow_redirects=True).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client, who: dict, password: str | None = None, remember: bool = False):
    data = {"email": who["email"], "password": password or who["password"]}
    data["csrf_token"] = csrf_of(client)
    if remember:
        data["remember"] = "1"
    return client.post("/login", data=data, headers=EN)


def cookie_value(client, name: str) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def fresh_client(app, **cookies):
    """A browser after a restart: no session, only the cookies given."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def limited(make_app, backend_name: str, **overrides):
    config = {"RATELIMIT_ENABLED": True, "RATELIMIT_LOGIN": "1000/minute", **overrides}
    if backend_name == "mariadb" and TEST_REDIS_URL:
        config["RATELIMIT_STORAGE_URI"] = TEST_REDIS_URL
    return make_app(**config)


def from_ip(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


@pytest.mark.both_backends
def test_pre_login_csrf_token_is_refused_after_login(client, customer):
    before = csrf_of(client)
    assert log_in(client, customer).status_code == 302
    old = client.post("/language", data={"lang": "en", "csrf_token": before}, headers=EN)
    assert old.status_code == 400
    after = csrf_of(client, "/dashboard/")
    assert after != before
    fresh = client.post("/language", data={"lang": "en", "csrf_token": after}, headers=EN)
    assert fresh.status_code == 302


@pytest.mark.both_backends
def test_session_copied_before_logout_is_refused_after_it(app, client, customer):
    assert log_in(client, customer).status_code == 302
    thief = fresh_client(app, session=cookie_value(client, "session"))
    assert thief.get("/dashboard/").status_code == 200
    other_device = app.test_client()
    assert log_in(other_device, customer).status_code == 302

    token = csrf_of(client, "/dashboard/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    assert thief.get("/dashboard/").status_code == 302
    assert other_device.get("/dashboard/").status_code == 302  # every device
    assert log_in(client, customer).status_code == 302  # logging in again works
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.both_backends
def test_remember_token_rotates_and_a_used_one_is_refused(app, customer):
    first = app.test_client()
    assert log_in(first, customer, remember=True).status_code == 302
    token_1 = cookie_value(first, COOKIE)
    second = app.test_client()
    log_in(second, customer, remember=True)
    assert cookie_value(second, COOKIE) not in (None, token_1)  # new on every login
    with app.app_context():
        stored = db.session.scalars(select(RememberToken.token_hash)).all()
    assert token_1 not in stored and len(stored) == 2  # only hashes

    restarted = fresh_client(app, **{COOKIE: token_1})
    assert restarted.get("/dashboard/").status_code == 200  # across a browser restart
    token_2 = cookie_value(restarted, COOKIE)
    assert token_2 and token_2 != token_1
    assert fresh_client(app, **{COOKIE: token_2}).get("/dashboard/").status_code == 200

    later = datetime.now(UTC) + timedelta(minutes=2)
    with time_machine.travel(later, tick=False):
        stolen = fresh_client(app, **{COOKIE: token_1})
        assert stolen.get("/dashboard/").status_code == 302  # used once: refused
        assert cookie_value(stolen, COOKIE) is None  # and the stale cookie is dropped


@pytest.mark.both_backends
def test_logout_revokes_every_remember_token(app, customer):
    browser = app.test_client()
    log_in(browser, customer, remember=True)
    copied = cookie_value(browser, COOKIE)
    browser.post("/logout", data={"csrf_token": csrf_of(browser, "/dashboard/")})
    assert cookie_value(browser, COOKIE) is None
    assert fresh_client(app, **{COOKIE: copied}).get("/dashboard/").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RememberToken)) == 0


def test_without_stay_logged_in_no_remember_cookie_is_set(client, customer):
    log_in(client, customer)
    assert cookie_value(client, COOKIE) is None
    assert cookie_value(client, "remember_token") is None  # nor Flask-Login's own


def change(client, current: str, new: str, repeat: str | None = None):
    token = csrf_of(client, "/account/password")
    data = {
        "current_password": current,
        "new_password": new,
        "new_password_repeat": new if repeat is None else repeat,
        "csrf_token": token,
    }
    return client.post("/account/password", data=data, headers=EN)


@pytest.mark.parametrize(
    ("current", "new", "repeat", "message"),
    [
        ("falsch-falsch", "ein-neues-passwort", None, "The current password is wrong."),
        ("kunden-passwort", "kurz-123", None, "at least 10 characters"),
        ("kunden-passwort", "kunde@example.com", None, "must not be your e-mail address"),
        ("kunden-passwort", "ein-neues-passwort", "ein-anderes-passwort", "are not the same"),
    ],
)
def test_password_change_explains_what_is_wrong(client, customer, current, new, repeat, message):
    log_in(client, customer)
    answer = change(client, current, new, repeat)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert log_in(client.application.test_client(), customer).status_code == 302  # unchanged


@pytest.mark.both_backends
def test_password_change_ends_other_sessions_and_keeps_this_one(app, customer):
    here = app.test_client()
    log_in(here, customer, remember=True)
    elsewhere = app.test_client()
    log_in(elsewhere, customer, remember=True)
    elsewhere_cookie = cookie_value(elsewhere, COOKIE)
    page = here.get("/dashboard/", headers=EN).get_data(as_text=True)
    assert 'href="/account/password"' in page  # linked from the navigation

    answer = change(here, customer["password"], "ein-ganz-neues-passwort")
    assert answer.status_code == 302
    after = here.get("/account/password", headers=EN)
    assert after.status_code == 200  # this browser is still logged in
    assert "Your password has been changed" in after.get_data(as_text=True)
    assert elsewhere.get("/dashboard/").status_code == 302
    assert fresh_client(app, **{COOKIE: elsewhere_cookie}).get("/dashboard/").status_code == 302
    assert (
        fresh_client(app, **{COOKIE: cookie_value(here, COOKIE)}).get("/dashboard/").status_code
        == 200
    )  # this browser got a new remember-me token
    assert log_in(app.test_client(), customer).status_code == 401
    assert log_in(app.test_client(), customer, "ein-ganz-neues-passwort").status_code == 302


def test_admins_change_their_password_too(client, admin):
    log_in(client, admin)
    page = client.get("/account/password", headers=EN).get_data(as_text=True)
    assert 'href="/admin/customers"' in page  # the admin navigation around it
    assert change(client, admin["password"], "neues-admin-passwort").status_code == 302
    assert (
        log_in(client.application.test_client(), admin, "neues-admin-passwort").status_code == 302
    )


def test_password_change_needs_a_login(client):
    assert client.get("/account/password").status_code == 302


def forgot(client, email: str):
    token = csrf_of(client, "/password/forgot")
    return client.post("/password/forgot", data={"email": email, "csrf_token": token}, headers=EN)


SAME_ANSWER = "If an account exists for this address"


@pytest.fixture
def mail_app(make_app, smtp_server):  # noqa: F811
    return make_app(**smtp_server.config)


@pytest.mark.both_backends
def test_reset_by_mail_works_once(mail_app, smtp_server, customer):  # noqa: F811
    client = mail_app.test_client()
    assert 'href="/password/forgot"' in client.get("/login", headers=EN).get_data(as_text=True)
    logged_in = mail_app.test_client()
    log_in(logged_in, customer)

    known = forgot(client, customer["email"].upper())
    unknown = forgot(client, "niemand@example.com")
    assert known.status_code == unknown.status_code == 200
    assert SAME_ANSWER in known.get_data(as_text=True)
    assert SAME_ANSWER in unknown.get_data(as_text=True)
    assert smtp_server.to("niemand@example.com") == []
    mails = smtp_server.to(customer["email"])
    assert len(mails) == 1
    link = next(url for url in links_in(mails[0]) if "/password/reset/" in url)
    path = link.removeprefix("http://localhost")
    raw = path.rsplit("/", 1)[1]
    with mail_app.app_context():
        hashes = db.session.scalars(select(PasswordResetToken.token_hash)).all()
    assert raw not in hashes and len(hashes) == 1  # only its hash is stored

    form = client.get(path, headers=EN)
    assert form.status_code == 200 and "new_password_repeat" in form.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    data = {"new_password": "kurz", "new_password_repeat": "kurz", "csrf_token": token}
    too_short = client.post(path, data=data, headers=EN)
    assert too_short.status_code == 400 and "at least 10" in too_short.get_data(as_text=True)
    data = {"new_password": "mein-neues-passwort", "csrf_token": token}
    data["new_password_repeat"] = data["new_password"]
    assert client.post(path, data=data, headers=EN).status_code == 302

    again = client.post(path, data=data, headers=EN)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert 'href="/password/forgot"' in again.get_data(as_text=True)
    assert logged_in.get("/dashboard/").status_code == 302  # every session ended
    assert log_in(mail_app.test_client(), customer).status_code == 401
    assert log_in(mail_app.test_client(), customer, "mein-neues-passwort").status_code == 302


def test_expired_reset_link_is_refused(mail_app, smtp_server, customer):  # noqa: F811
    client = mail_app.test_client()
    forgot(client, customer["email"])
    link = next(u for u in links_in(smtp_server.to(customer["email"])[0]) if "/reset/" in u)
    path = link.removeprefix("http://localhost")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61), tick=False):
        answer = client.get(path, headers=EN)
    assert answer.status_code == 400
    assert "This link has expired." in answer.get_data(as_text=True)
    assert 'href="/password/forgot"' in answer.get_data(as_text=True)
    assert client.get("/password/reset/" + "x" * 43, headers=EN).status_code == 400


def test_a_newer_reset_link_replaces_the_older(mail_app, smtp_server, customer):  # noqa: F811
    client = mail_app.test_client()
    forgot(client, customer["email"])
    forgot(client, customer["email"])
    first, second = (
        next(u for u in links_in(m) if "/reset/" in u).removeprefix("http://localhost")
        for m in smtp_server.to(customer["email"])
    )
    assert client.get(first).status_code == 400
    assert client.get(second).status_code == 200


@pytest.mark.both_backends
def test_reset_mails_are_limited_per_account_and_per_ip(
    make_app, backend_name, smtp_server, customer
):  # noqa: F811
    app = limited(
        make_app,
        backend_name,
        PASSWORD_RESET_PER_ACCOUNT="2/hour",
        RATELIMIT_PASSWORD_RESET="3/minute",
        **smtp_server.config,
    )
    answers = [
        forgot(from_ip(app.test_client(), f"198.51.100.{n}"), customer["email"]) for n in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]  # the same answer
    assert len(smtp_server.to(customer["email"])) == 2  # but only two mails
    one_ip = from_ip(app.test_client(), "203.0.113.9")
    statuses = [forgot(one_ip, f"person{n}@example.com").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Too many attempts" in forgot(one_ip, "x@example.com").get_data(as_text=True)


def test_guessing_reset_links_with_a_csrf_token_is_limited(make_app, backend_name):
    app = limited(make_app, backend_name, RATELIMIT_TOKEN_ROUTES="3/minute")
    client = app.test_client()
    token = csrf_of(client, "/password/forgot")
    data = {"new_password": "x" * 12, "new_password_repeat": "x" * 12, "csrf_token": token}
    statuses = [
        client.post(f"/password/reset/geraten{n}AAAAAAAAAAAAAAAAAAAAAAAA", data=data).status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]


@pytest.mark.both_backends
def test_many_wrong_passwords_slow_down_one_account_from_any_ip(make_app, backend_name, customer):
    app = limited(make_app, backend_name)
    statuses = [
        log_in(from_ip(app.test_client(), f"198.51.100.{n}"), customer, "falsch-falsch").status_code
        for n in range(5)
    ]
    assert statuses == [401] * 5
    owner = from_ip(app.test_client(), "203.0.113.50")
    blocked = log_in(owner, customer)  # even the right password, from a new IP
    assert blocked.status_code == 429
    text = blocked.get_data(as_text=True)
    assert "Too many failed logins for this account" in text and "reset your password" in text
    assert owner.get("/dashboard/").status_code == 302
    other = log_in(app.test_client(), {"email": "andere@example.com", "password": "x" * 10})
    assert other.status_code == 401  # other accounts are not affected
    if backend_name == "mariadb":
        from referral_app.core.redis_conn import get_redis

        with app.app_context():
            keys = b" ".join(get_redis().keys("*"))
        assert b"kunde" not in keys and b"example" not in keys  # no address in Redis


def wait_minutes(answer) -> int:
    assert answer.status_code == 401, answer.status_code
    return int(re.search(r"wait (\d+) minute", answer.get_data(as_text=True))[1])


def test_the_wait_doubles_and_is_capped_at_15_minutes(make_app, customer):
    """30 s, 1, 2, 4, 8 minutes, then (after waiting out the failure window and failing 5
    times again) 15 at most; after that the owner gets in."""
    app = limited(make_app, "sqlite")
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for n in range(4):
            log_in(from_ip(app.test_client(), f"198.51.100.{n}"), customer, "falsch")
        waits = [wait_minutes(log_in(app.test_client(), customer, "falsch"))]
        for seconds in (31, 61, 121, 241):
            assert log_in(app.test_client(), customer).status_code == 429
            clock.shift(timedelta(seconds=seconds))
            waits.append(wait_minutes(log_in(app.test_client(), customer, "falsch")))
        assert waits == [1, 1, 2, 4, 8]
        clock.shift(timedelta(seconds=481))  # the failure window (15 min) has passed
        for _ in range(4):
            assert log_in(app.test_client(), customer, "falsch").status_code == 401
        assert wait_minutes(log_in(app.test_client(), customer, "falsch")) == 15
        clock.shift(timedelta(seconds=899))
        assert log_in(app.test_client(), customer).status_code == 429
        clock.shift(timedelta(seconds=2))
        assert log_in(app.test_client(), customer).status_code == 302


@pytest.mark.both_backends
def test_a_successful_login_or_reset_clears_the_failures(
    make_app, backend_name, customer, smtp_server
):  # noqa: F811
    app = limited(make_app, backend_name, **smtp_server.config)
    for n in range(4):
        log_in(from_ip(app.test_client(), f"198.51.100.{n}"), customer, "falsch-falsch")
    assert log_in(app.test_client(), customer).status_code == 302
    for _ in range(4):
        assert log_in(app.test_client(), customer, "falsch-falsch").status_code == 401
    assert log_in(app.test_client(), customer, "falsch-falsch").status_code == 401  # 5th
    assert log_in(app.test_client(), customer).status_code == 429
    client = app.test_client()
    forgot(client, customer["email"])
    link = next(u for u in links_in(smtp_server.to(customer["email"])[0]) if "/reset/" in u)
    path = link.removeprefix("http://localhost")
    token = csrf_of(client, path)
    data = {"new_password": "nach-dem-reset-1", "new_password_repeat": "nach-dem-reset-1"}
    assert client.post(path, data={**data, "csrf_token": token}).status_code == 302
    assert log_in(app.test_client(), customer, "nach-dem-reset-1").status_code == 302


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_cli_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(
        args=["create-admin", "skript@example.com", "--password-stdin"],
        input="aus-der-pipe-123\n",
    )
    assert result.exit_code == 0, result.output
    assert last_json(result.stdout)["ok"] is True
    result = runner.invoke(
        args=["create-customer", "firma@example.com", "--password-stdin", "--company", "Firma"],
        input="kunden-pipe-123\n",
    )
    payload = last_json(result.stdout)
    assert payload["ok"] is True and payload["ref_code"]
    client = app.test_client()
    who = {"email": "skript@example.com", "password": "aus-der-pipe-123"}
    assert log_in(client, who).status_code == 302
    assert (
        log_in(
            app.test_client(), {**who, "email": "firma@example.com", "password": "kunden-pipe-123"}
        ).status_code
        == 302
    )


def test_cli_prompts_twice_without_a_password(app, runner):
    result = runner.invoke(
        args=["create-admin", "prompt@example.com"], input="getippt-12345\ngetippt-12345\n"
    )
    assert result.exit_code == 0, result.output
    assert "getippt-12345" not in result.stdout  # hidden
    assert last_json(result.stdout)["ok"] is True
    mismatch = runner.invoke(
        args=["create-admin", "zwei@example.com"], input="eins-1234\nzwei-1234\n"
    )
    assert mismatch.exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "zwei@example.com")) is None


def test_cli_password_argument_still_works_and_not_both(runner):
    result = runner.invoke(args=["create-admin", "arg@example.com", "--password", "als-argument-1"])
    assert last_json(result.stdout)["ok"] is True
    both = runner.invoke(
        args=["create-admin", "b@example.com", "--password", "x" * 10, "--password-stdin"],
        input="y" * 10 + "\n",
    )
    assert both.exit_code == 1 and last_json(both.stdout)["error"] == "usage"
