"""One IPv6 subscriber holds a whole /64: rate limits and the per-IP rules key on it
(core/netaddr.py, IPV6_PREFIX_LENGTH)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from referral_app.core.netaddr import ip_key
from referral_app.extensions import db
from referral_app.models import FraudLogEntry

from .support_tracking import FIREFOX, click


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
        ("", ""),
    ],
)
def test_ip_key(app_ctx, address, key):
    assert ip_key(address) == key


def test_the_prefix_length_is_configurable(make_app):
    with make_app(IPV6_PREFIX_LENGTH=56).app_context():
        assert ip_key("2001:db8:1:2ff::1") == "2001:db8:1:200::/56"


def login(client, email: str, ip: str):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post(
        "/login",
        data={"email": email, "password": "falsch-falsch", "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


@pytest.mark.both_backends
def test_logins_from_one_64_share_a_bucket_and_other_64s_do_not(make_app, customer):
    # The production login limit per IP: 10/minute (the per-account lock is kept out of the
    # way: this test is about the IP bucket; tests/test_sessions.py tests the account's).
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_FAILURES_ALLOWED=100)
    client = app.test_client()
    statuses = [
        login(client, customer["email"], f"2001:db8:1:2::{n:x}").status_code for n in range(1, 15)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 4
    assert login(client, customer["email"], "2001:db8:1:3::1").status_code == 401
    assert login(client, customer["email"], "::ffff:203.0.113.5").status_code == 401


@pytest.mark.both_backends
def test_two_clicks_from_one_64_are_one_ip_for_the_daily_limit(make_app, customer):
    app = make_app(FRAUD_IP_DAILY_CLICKS=1)
    client = app.test_client()
    ref = customer["ref_code"]
    first = click(client, ref, "2001:db8:5:6::10", f"{FIREFOX} A")
    second = click(client, ref, "2001:db8:5:6:1234::99", f"{FIREFOX} B")
    elsewhere = click(client, ref, "2001:db8:5:7::10", f"{FIREFOX} C")
    assert [first["status"], second["status"], elsewhere["status"]] == [
        "tracked",
        "blocked",
        "tracked",
    ]
    with app.app_context():
        assert db.session.scalars(select(FraudLogEntry.type)).all() == ["ip_daily_limit"]
