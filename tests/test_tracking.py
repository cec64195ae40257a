"""The tracking engine through HTTP: the journey, every fraud rule, bad input, CORS, the
pixel, rate limits, proxies, privacy and the hosted pages."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from referral_app.extensions import db

from .conftest import api_key_for
from .support_tracking import (  # noqa: F401
    BOTS,
    BROWSERS,
    CHROME,
    FIREFOX,
    SAFARI,
    add_customer,
    add_participant,
    browser,
    click,
    convert,
    counters,
    event_rows,
    fraud_types,
    fresh_salts,
    limited_app,
    participant_counters,
    post,
    remember_device,
    stats_check,
)

pytestmark = pytest.mark.both_backends  # upserts, unique keys and counters behave by engine

# A fixed late morning: the 24-hour and daily rules do not straddle midnight by accident.
T0 = datetime(2031, 3, 12, 10, 0, tzinfo=UTC)


def get_stats(app, client, customer) -> dict:
    key = api_key_for(app, customer["user_id"])
    response = client.get("/api/referral/get-stats", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    return response.get_json()


def run_journey(client, code: str) -> None:
    """The issue's journey: click, the same visitor again, two others, a conversion after
    6 s, an instant one, and bots. Distinctive IPs, so the privacy test can look for them."""
    with time_machine.travel(T0, tick=False) as clock:
        first = click(client, code, "203.0.113.77", FIREFOX, page="https://coach.example/frei")
        assert first["status"] == "tracked" and first["click_id"] > 0
        again = click(client, code, "203.0.113.77", FIREFOX)
        assert again["status"] == "duplicate"
        assert click(client, code, "198.51.100.23", CHROME)["status"] == "tracked"
        clock.shift(6)
        third = click(client, code, "192.0.2.45", SAFARI)
        assert third["status"] == "tracked"
        after_6s = convert(
            client,
            code,
            "203.0.113.77",
            FIREFOX,
            click_id=first["click_id"],
            page="https://coach.example/danke?email=besucherin%40example.org",
        )
        assert after_6s == {"ok": True, "status": "tracked", "suspicious": False}
        instant = convert(client, code, "192.0.2.45", SAFARI, click_id=third["click_id"])
        assert instant == {"ok": True, "status": "tracked", "suspicious": True}
        assert click(client, code, "203.0.113.88", BOTS["googlebot"])["status"] == "blocked"
        assert click(client, code, "203.0.113.89", BOTS["whatsapp-preview"])["status"] == "blocked"
        bot_conversion = convert(client, code, "203.0.113.90", BOTS["headless"])
        assert bot_conversion == {"ok": True, "status": "blocked", "suspicious": False}


def test_journey_through_http_gives_exact_stats(app, client, customer):
    run_journey(client, customer["ref_code"])
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        stats = get_stats(app, client, customer)
    expected = {
        "clicks": 4,
        "unique_clicks": 3,
        "conversions": 2,
        "suspicious_conversions": 1,
        "leads": 0,
        "confirmed_leads": 0,
        "conversion_rate": 66.7,
    }
    assert stats["totals"] == expected
    assert stats["last_30_days"] == expected
    stored = counters(app, customer["id"])
    assert stored["blocked_clicks"] == 2
    assert stored["blocked_conversions"] == 1
    assert fraud_types(app) == [
        "click_rate_limit",
        "fast_conversion",
        "bot_user_agent",
        "bot_user_agent",
        "bot_user_agent",
    ]
    assert stats_check(app) == 0


def test_every_event_is_stored_with_why_it_did_not_count(app, client, customer):
    run_journey(client, customer["ref_code"])
    clicks = event_rows(app, "Click")
    assert [(c["status"], c["reason"], c["first_in_period"]) for c in clicks] == [
        ("tracked", None, True),
        ("duplicate", "click_rate_limit", None),
        ("tracked", None, True),
        ("tracked", None, True),
        ("blocked", "bot_user_agent", None),
        ("blocked", "bot_user_agent", None),
    ]
    conversions = event_rows(app, "Conversion")
    assert [(c["status"], c["suspicious"], c["reasons"]) for c in conversions] == [
        ("tracked", False, []),
        ("tracked", True, ["fast_conversion"]),
        ("blocked", False, ["bot_user_agent"]),
    ]
    assert conversions[0]["seconds_since_click"] == 6.0
    assert conversions[0]["click_id"] == clicks[0]["id"]
    assert conversions[0]["page"] == "https://coach.example/danke"


def test_no_table_holds_a_raw_ip_user_agent_or_email(app, client, customer):
    """Dump every table after the journey: only keyed hashes of visitors are kept."""
    participant = add_participant(app, customer["id"], "empfehlerin@example.org")
    run_journey(client, customer["ref_code"])
    with time_machine.travel(T0, tick=False):
        click(client, participant["ref_code"], "203.0.113.91", CHROME, page="https://x.example/")
    dump = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                for column, value in row.items():
                    if table.name in ("users", "customers") and column in (
                        "email",
                        "contact_email",
                    ):
                        continue  # the customer's own login, not a visitor's data
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    dump.append(f"{table.name}.{column}={value}")
        if app.config.get("REDIS_URL"):
            from referral_app.core.redis_conn import get_redis

            for key in get_redis().scan_iter():
                dump.append(f"redis:{key.decode()}={get_redis().dump(key)!r}")
    text = "\n".join(dump)
    for ip in ("203.0.113.77", "198.51.100.23", "192.0.2.45", "203.0.113.9"):
        assert ip not in text
    for agent in (FIREFOX, CHROME, SAFARI, "Firefox/128", "Googlebot", "HeadlessChrome"):
        assert agent not in text
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an e-mail address is stored"
    assert "besucherin" not in text


# --- rule: one counted click per visitor, code and 24 hours ----------------------------------


def test_second_click_from_same_visitor_is_duplicate(app, client, customer):
    code = customer["ref_code"]
    assert click(client, code, "203.0.113.1")["status"] == "tracked"
    assert click(client, code, "203.0.113.1")["status"] == "duplicate"
    assert fraud_types(app) == ["click_rate_limit"]
    assert counters(app, customer["id"])["clicks"] == 2
    assert counters(app, customer["id"])["unique_clicks"] == 1


def test_other_visitors_on_the_same_ip_each_count(client, customer):
    code = customer["ref_code"]
    for n in range(3):
        assert click(client, code, "203.0.113.1", browser(n))["status"] == "tracked"


def test_same_visitor_counts_again_on_another_code(app, client, customer):
    participant = add_participant(app, customer["id"])
    assert click(client, customer["ref_code"], "203.0.113.1")["status"] == "tracked"
    assert click(client, participant["ref_code"], "203.0.113.1")["status"] == "tracked"


def test_duplicate_across_the_salt_change_within_24_hours(app, client, customer):
    """Yesterday 23:00 counted; today 01:00 (new salt) is a duplicate through the previous
    salt; today 23:30 is more than 24 h after the counted click and counts again."""
    code = customer["ref_code"]
    with time_machine.travel(datetime(2031, 3, 11, 23, 0, tzinfo=UTC), tick=False) as clock:
        assert click(client, code, "203.0.113.5")["status"] == "tracked"
        clock.move_to(datetime(2031, 3, 12, 1, 0, tzinfo=UTC))
        assert click(client, code, "203.0.113.5")["status"] == "duplicate"
        clock.move_to(datetime(2031, 3, 12, 23, 30, tzinfo=UTC))
        assert click(client, code, "203.0.113.5")["status"] == "tracked"
    salts = {row["salt_id"] for row in event_rows(app, "Click")}
    assert len(salts) == 2
    assert stats_check(app) == 0


# --- rule: at most 10 clicks per IP and day, across codes ------------------------------------


def test_eleventh_click_from_one_ip_in_a_day_is_blocked(app, client, customer):
    participant = add_participant(app, customer["id"])
    codes = [customer["ref_code"], participant["ref_code"]]
    with time_machine.travel(T0, tick=False) as clock:
        statuses = [
            click(client, codes[n % 2], "203.0.113.2", browser(n))["status"] for n in range(11)
        ]
        assert statuses == ["tracked"] * 10 + ["blocked"]
        assert fraud_types(app) == ["ip_daily_limit"]
        assert click(client, codes[0], "203.0.113.3", browser(20))["status"] == "tracked"
        clock.move_to(T0 + timedelta(days=1))
        assert click(client, codes[0], "203.0.113.2", browser(30))["status"] == "tracked"
    assert counters(app, customer["id"])["blocked_clicks"] == 1
    assert stats_check(app) == 0


def test_duplicates_do_not_use_up_the_daily_ip_budget(client, customer):
    code = customer["ref_code"]
    for _ in range(12):
        click(client, code, "203.0.113.4", FIREFOX)
    assert click(client, code, "203.0.113.4", CHROME)["status"] == "tracked"


def test_ip_limit_without_redis_lives_in_the_database(make_app, customer):
    app = make_app(REDIS_URL=None)
    click(app.test_client(), customer["ref_code"], "203.0.113.6")
    with app.app_context():
        from referral_app.models import RateCounter

        rows = db.session.execute(select(RateCounter.key, RateCounter.count)).all()
    assert [row[1] for row in rows] == [1]
    assert rows[0][0].startswith("ipday:") and "203.0.113.6" not in rows[0][0]


def test_ip_limit_with_redis_is_one_redis_counter(app, client, customer):
    if not app.config.get("REDIS_URL"):
        pytest.skip("Redis runs with the MariaDB backend")
    from referral_app.core.redis_conn import get_redis

    click(client, customer["ref_code"], "203.0.113.6")
    with app.app_context():
        keys = [key.decode() for key in get_redis().scan_iter("fraud:ipday:*")]
        assert len(keys) == 1 and get_redis().ttl(keys[0]) > 0
        assert db.session.execute(db.text("SELECT COUNT(*) FROM rate_counters")).scalar() == 0


def test_redis_outage_falls_back_to_database_counters(make_app, customer):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    assert click(app.test_client(), customer["ref_code"], "203.0.113.6")["status"] == "tracked"
    with app.app_context():
        assert db.session.execute(db.text("SELECT COUNT(*) FROM rate_counters")).scalar() == 1


# --- rule: conversions per IP, program and 24 hours ------------------------------------------


def test_conversion_over_the_per_ip_limit_is_blocked(make_app, customer):
    app = make_app(FRAUD_CONVERSIONS_PER_IP=1)
    client = app.test_client()
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        click(client, code, "203.0.113.7", FIREFOX)
        click(client, code, "203.0.113.7", CHROME)
        clock.shift(60)
        assert convert(client, code, "203.0.113.7", FIREFOX)["status"] == "tracked"
        blocked = convert(client, code, "203.0.113.7", CHROME)
        assert blocked == {"ok": True, "status": "blocked", "suspicious": False}
        assert fraud_types(app) == ["conversion_rate_limit"]
        assert convert(client, code, "203.0.113.8", SAFARI)["status"] == "tracked"
        clock.shift(24 * 3600 + 60)
        assert convert(client, code, "203.0.113.7", SAFARI)["status"] == "tracked"
    totals = counters(app, customer["id"])
    assert (totals["conversions"], totals["blocked_conversions"]) == (3, 1)
    assert stats_check(app) == 0


def test_conversion_ip_limit_is_per_program(app, client, customer):
    other = add_customer(app, "zweite@example.com")
    assert convert(client, customer["ref_code"], "203.0.113.9", FIREFOX)["status"] == "tracked"
    assert convert(client, other["ref_code"], "203.0.113.9", CHROME)["status"] == "tracked"


# --- rule: the same visitor converting again is a duplicate ----------------------------------


def test_same_visitor_converting_again_is_duplicate(app, client, customer):
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        click(client, code, "203.0.113.10")
        clock.shift(30)
        assert convert(client, code, "203.0.113.10")["status"] == "tracked"
        again = convert(client, code, "203.0.113.10")
        assert again == {"ok": True, "status": "duplicate", "suspicious": False}
    assert fraud_types(app) == ["duplicate_fingerprint"]
    assert counters(app, customer["id"])["conversions"] == 1


# --- rule: conversion under 5 s after its click is suspicious --------------------------------


@pytest.mark.parametrize(("seconds", "suspicious"), [(0, True), (4.9, True), (5, False)])
def test_fast_conversion_is_counted_but_suspicious(app, client, customer, seconds, suspicious):
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        clicked = click(client, code, "203.0.113.11")
        clock.shift(seconds)
        answer = convert(client, code, "203.0.113.11", click_id=clicked["click_id"])
    assert answer == {"ok": True, "status": "tracked", "suspicious": suspicious}
    assert fraud_types(app) == (["fast_conversion"] if suspicious else [])
    totals = counters(app, customer["id"])
    assert (totals["conversions"], totals["suspicious_conversions"]) == (1, int(suspicious))


def test_fast_conversion_without_click_id_uses_the_visitors_latest_click(app, client, customer):
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        click(client, code, "203.0.113.12")
        clock.shift(2)
        assert convert(client, code, "203.0.113.12")["suspicious"] is True
    assert fraud_types(app) == ["fast_conversion"]


def test_click_id_of_another_code_is_not_used(app, client, customer):
    participant = add_participant(app, customer["id"])
    with time_machine.travel(T0, tick=False) as clock:
        foreign = click(client, participant["ref_code"], "203.0.113.13", CHROME)
        clock.shift(600)
        click(client, customer["ref_code"], "203.0.113.13", FIREFOX)
        clock.shift(1)
        answer = convert(
            client, customer["ref_code"], "203.0.113.13", FIREFOX, click_id=foreign["click_id"]
        )
    assert answer["suspicious"] is True
    assert event_rows(app, "Conversion")[0]["seconds_since_click"] == 1.0


# --- rule: a conversion with no click seen is suspicious -------------------------------------


def test_conversion_without_any_click_is_suspicious(app, client, customer):
    answer = convert(client, customer["ref_code"], "203.0.113.14")
    assert answer == {"ok": True, "status": "tracked", "suspicious": True}
    assert fraud_types(app) == ["no_prior_click"]


def test_conversion_after_a_click_and_a_pause_is_clean(app, client, customer):
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        clicked = click(client, code, "203.0.113.15")
        clock.shift(95)
        answer = convert(client, code, "203.0.113.15", click_id=str(clicked["click_id"]))
    assert answer == {"ok": True, "status": "tracked", "suspicious": False}
    assert fraud_types(app) == []


# --- rule: bots, crawlers, headless browsers, link previews ----------------------------------


@pytest.mark.parametrize("name", sorted(BOTS))
def test_bot_user_agents_are_blocked(app, client, customer, name):
    code = customer["ref_code"]
    assert click(client, code, "203.0.113.16", BOTS[name])["status"] == "blocked"
    assert convert(client, code, "203.0.113.16", BOTS[name])["status"] == "blocked"
    assert fraud_types(app) == ["bot_user_agent", "bot_user_agent"]
    totals = counters(app, customer["id"])
    assert (totals["clicks"], totals["blocked_clicks"], totals["blocked_conversions"]) == (0, 1, 1)


@pytest.mark.parametrize("agent", BROWSERS)
def test_ordinary_browsers_pass(app, client, customer, agent):
    assert click(client, customer["ref_code"], "203.0.113.17", agent)["status"] == "tracked"
    assert fraud_types(app) == []


# --- rule: a participant's own device on their own link --------------------------------------


def test_participants_own_device_on_own_link_is_blocked(app, client, customer):
    participant = add_participant(app, customer["id"])
    with time_machine.travel(T0, tick=False) as clock:
        remember_device(app, participant["id"], "203.0.113.18", FIREFOX)
        clock.shift(3600)
        assert click(client, participant["ref_code"], "203.0.113.18")["status"] == "blocked"
        assert convert(client, participant["ref_code"], "203.0.113.18")["status"] == "blocked"
        # a friend on another device counts; the participant on the program's own code too
        assert click(client, participant["ref_code"], "203.0.113.19", CHROME)["status"] == (
            "tracked"
        )
        assert click(client, customer["ref_code"], "203.0.113.18")["status"] == "tracked"
    assert fraud_types(app) == ["self_referral", "self_referral"]
    assert participant_counters(app, participant["id"])["clicks"] == 1
    assert stats_check(app) == 0


def test_own_device_seen_yesterday_still_counts_as_self_referral(app, client, customer):
    participant = add_participant(app, customer["id"])
    with time_machine.travel(T0, tick=False) as clock:
        remember_device(app, participant["id"], "203.0.113.20", SAFARI)
        clock.shift(24 * 3600)
        answer = click(client, participant["ref_code"], "203.0.113.20", SAFARI)
    assert answer["status"] == "blocked"


# --- rule: velocity on one participant code --------------------------------------------------


def test_too_many_conversions_per_hour_on_one_code_are_suspicious(make_app, customer):
    app = make_app(FRAUD_PARTICIPANT_HOURLY_CONVERSIONS=2)
    client = app.test_client()
    participant = add_participant(app, customer["id"])
    code = participant["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(3):
            click(client, code, f"203.0.113.{30 + n}", browser(n))
        clock.shift(60)
        answers = [
            convert(client, code, f"203.0.113.{30 + n}", browser(n))["suspicious"] for n in range(3)
        ]
    assert answers == [False, False, True]
    assert fraud_types(app) == ["velocity"]
    assert participant_counters(app, participant["id"]) == {
        "clicks": 3,
        "unique_clicks": 3,
        "conversions": 3,
        "suspicious_conversions": 1,
    }
    assert stats_check(app) == 0


# --- participants, programs, rewards ---------------------------------------------------------


def test_participant_code_counts_for_program_and_participant(app, client, customer):
    participant = add_participant(app, customer["id"])
    code = participant["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        clicked = click(client, code.lower(), "203.0.113.40")
        click(client, code, "203.0.113.40")
        clock.shift(40)
        convert(client, code, "203.0.113.40", click_id=clicked["click_id"])
    assert participant_counters(app, participant["id"]) == {
        "clicks": 2,
        "unique_clicks": 1,
        "conversions": 1,
        "suspicious_conversions": 0,
    }
    assert {row["participant_id"] for row in event_rows(app, "Click")} == {participant["id"]}
    assert event_rows(app, "Conversion")[0]["ref_code"] == code
    assert counters(app, customer["id"])["conversions"] == 1
    assert stats_check(app) == 0


def test_suspicious_conversions_earn_no_reward_clean_ones_do(app, client, customer):
    from referral_app.models import Participant, RewardGrant, RewardMilestone

    participant = add_participant(app, customer["id"])
    code = participant["ref_code"]
    with app.app_context():
        db.session.add(
            RewardMilestone(customer_id=customer["id"], threshold=1, tier="Bronze", title="PDF")
        )
        db.session.commit()
    with time_machine.travel(T0, tick=False) as clock:
        convert(client, code, "203.0.113.41")  # no click: suspicious
        with app.app_context():
            assert db.session.get(Participant, participant["id"]).referrals == 0
            assert db.session.scalars(select(RewardGrant)).all() == []
        click(client, code, "203.0.113.42", CHROME)
        clock.shift(120)
        assert convert(client, code, "203.0.113.42", CHROME)["suspicious"] is False
    with app.app_context():
        assert db.session.get(Participant, participant["id"]).referrals == 1
        grants = db.session.scalars(select(RewardGrant)).all()
        assert [g.participant_id for g in grants] == [participant["id"]]
    assert stats_check(app) == 0


def test_inactive_program_answers_403_and_stores_nothing(app, client, customer):
    from referral_app.models import Customer

    participant = add_participant(app, customer["id"])
    with app.app_context():
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
    for code in (customer["ref_code"], participant["ref_code"]):
        for endpoint in ("track-click", "track-conversion"):
            response = post(client, endpoint, "203.0.113.42", ref=code)
            assert response.status_code == 403
            assert response.get_json()["error"] == "program_inactive"
    assert event_rows(app, "Click") == [] and event_rows(app, "Conversion") == []


def test_suspended_program_is_inactive(app, client, customer):
    from referral_app.models import Customer, utcnow

    with app.app_context():
        db.session.get(Customer, customer["id"]).suspended_at = utcnow()
        db.session.commit()
    response = post(client, "track-click", "203.0.113.43", ref=customer["ref_code"])
    assert response.status_code == 403


# --- bad input ------------------------------------------------------------------------------

BAD_REFS = [
    ("missing", {}, 400, "invalid_ref"),
    ("empty", {"ref": ""}, 400, "invalid_ref"),
    ("blank", {"ref": "   "}, 400, "invalid_ref"),
    ("overlong", {"ref": "A" * 65}, 400, "invalid_ref"),
    ("non-ascii", {"ref": "REFÄÖÜ"}, 400, "invalid_ref"),
    ("punctuation", {"ref": "ABC;DROP"}, 400, "invalid_ref"),
    ("number", {"ref": 12345678}, 400, "invalid_ref"),
    ("list", {"ref": ["ABC"]}, 400, "invalid_ref"),
    ("object", {"ref": {"code": "ABC"}}, 400, "invalid_ref"),
    ("null", {"ref": None}, 400, "invalid_ref"),
    ("bool", {"ref": True}, 400, "invalid_ref"),
    ("unknown participant code", {"ref": "ZZZZZZZZ"}, 404, "unknown_ref"),
    ("unknown program code", {"ref": "REF999999ABCDEF"}, 404, "unknown_ref"),
    ("long unknown", {"ref": "A" * 64}, 404, "unknown_ref"),
]


def _nothing_stored(app) -> None:
    assert event_rows(app, "Click") == []
    assert event_rows(app, "Conversion") == []
    assert event_rows(app, "FraudLogEntry") == []


@pytest.mark.parametrize("endpoint", ["track-click", "track-conversion"])
@pytest.mark.parametrize(
    ("case", "body", "status", "error"), BAD_REFS, ids=[b[0] for b in BAD_REFS]
)
def test_bad_ref_is_a_4xx_json_error(app, client, customer, endpoint, case, body, status, error):
    response = client.post(
        f"/api/referral/{endpoint}",
        json=body,
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.50"},
    )
    assert response.status_code == status
    payload = response.get_json()
    assert payload["ok"] is False and payload["error"] == error and payload["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    _nothing_stored(app)


BAD_BODIES = [
    ("malformed json", "application/json", b'{"ref": "ABC"', 400, "invalid_json"),
    ("json array", "application/json", b'["REF"]', 400, "invalid_json"),
    ("json string", "application/json", b'"REF"', 400, "invalid_json"),
    ("not utf-8", "application/json", b'{"ref": "\xff\xfe"}', 400, "invalid_json"),
    ("deeply nested", "application/json", b"[" * 20000 + b"]" * 20000, 400, "invalid_json"),
    ("plain text not json", "text/plain", b"ref=ABC", 400, "invalid_json"),
    ("xml", "application/xml", b"<ref>ABC</ref>", 415, "unsupported_media_type"),
    ("octet stream", "application/octet-stream", b"\x00\x01", 415, "unsupported_media_type"),
    ("oversize", "application/json", b'{"ref": "' + b"A" * 70000 + b'"}', 413, None),
    ("oversize form", "application/x-www-form-urlencoded", b"ref=" + b"A" * 70000, 413, None),
]


@pytest.mark.parametrize("endpoint", ["track-click", "track-conversion"])
@pytest.mark.parametrize(
    ("case", "mimetype", "body", "status", "error"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_body_is_a_4xx_json_error(
    app, client, customer, endpoint, case, mimetype, body, status, error
):
    response = client.post(
        f"/api/referral/{endpoint}",
        data=body,
        content_type=mimetype,
        environ_base={"REMOTE_ADDR": "203.0.113.51"},
    )
    assert response.status_code == status
    payload = response.get_json()
    assert payload["ok"] is False
    assert payload["error"] == (error or "payload_too_large")
    _nothing_stored(app)


def test_form_bodies_and_text_plain_json_are_accepted(app, client, customer):
    code = customer["ref_code"]
    response = client.post(
        "/api/referral/track-click",
        data={"ref": code, "page": "https://coach.example/frei"},
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.52"},
    )
    assert response.get_json()["status"] == "tracked"
    beacon = client.post(
        "/api/referral/track-conversion",
        data=json.dumps({"ref": code, "click_id": response.get_json()["click_id"]}),
        content_type="text/plain;charset=UTF-8",
        headers={"User-Agent": FIREFOX},
        environ_base={"REMOTE_ADDR": "203.0.113.52"},
    )
    assert beacon.status_code == 200 and beacon.get_json()["status"] == "tracked"


@pytest.mark.parametrize("click_id", ["abc", -1, 0, 1.5, True, 10**30, "12x", [], None, "9" * 40])
def test_garbage_click_id_is_ignored(app, client, customer, click_id):
    answer = convert(client, customer["ref_code"], "203.0.113.53", click_id=click_id)
    assert answer["status"] == "tracked"
    assert event_rows(app, "Conversion")[0]["click_id"] is None


@pytest.mark.parametrize(
    ("page", "stored"),
    [
        ("https://coach.example/frei?email=a%40b.de&name=Max#top", "https://coach.example/frei"),
        ("https://max:geheim@coach.example:8443/x", "https://coach.example:8443/x"),
        ("https://coach.example/profil/max@example.org", "https://coach.example/"),
        ("HTTPS://Coach.Example", "https://coach.example/"),
        ("http://[2001:db8::1]/a", "http://[2001:db8::1]/a"),
        ("javascript:alert(1)", None),
        ("ftp://coach.example/x", None),
        ("not a url", None),
        ("https://coach.example:99999/x", None),
        (12, None),
        ("", None),
        ("https://coach.example/" + "a" * 600, ("https://coach.example/" + "a" * 600)[:500]),
    ],
)
def test_page_is_stored_without_query_and_capped(app, client, customer, page, stored):
    click(client, customer["ref_code"], "203.0.113.54", page=page)
    assert event_rows(app, "Click")[0]["page"] == stored


# --- CORS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["track-click", "track-conversion", "track"])
def test_cors_preflight_is_open_without_credentials(client, path):
    response = client.options(
        f"/api/referral/{path}",
        headers={
            "Origin": "https://coach.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_headers_on_answers_and_errors(client, customer):
    ok = post(client, "track-click", "203.0.113.55", ref=customer["ref_code"])
    bad = post(client, "track-click", "203.0.113.55", ref="")
    for response in (ok, bad):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Cache-Control"] == "no-store"


# --- the pixel ------------------------------------------------------------------------------


def _pixel(client, query: str, ua: str = FIREFOX, ip: str = "203.0.113.60"):
    return client.get(
        f"/api/referral/track{query}", headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip}
    )


def test_pixel_tracks_a_click_and_a_conversion(app, client, customer):
    code = customer["ref_code"]
    with time_machine.travel(T0, tick=False) as clock:
        _pixel(client, f"?ref={code}")
        clock.shift(30)
        _pixel(client, f"?ref={code}&e=conversion")
    totals = counters(app, customer["id"])
    assert (totals["unique_clicks"], totals["conversions"], totals["suspicious_conversions"]) == (
        1,
        1,
        0,
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?ref=",
        "?ref=%C3%84%C3%96",
        "?ref=NOPE1234",
        "?ref=REF999999ABCDEF",
        "?ref=VALID&e=unknown",
        "?ref=VALID&e=conversion&click_id=garbage",
        "?ref=VALID&e=click",
        "?ref=" + "A" * 5000,
    ],
)
def test_pixel_is_always_a_gif(client, customer, query):
    response = _pixel(client, query.replace("VALID", customer["ref_code"]))
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    assert response.data.startswith(b"GIF89a")
    assert response.headers["Cache-Control"] == "no-store"


def test_pixel_is_a_gif_for_bots_and_inactive_programs(app, client, customer):
    from referral_app.models import Customer

    assert _pixel(client, f"?ref={customer['ref_code']}", BOTS["curl"]).mimetype == "image/gif"
    with app.app_context():
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
    assert _pixel(client, f"?ref={customer['ref_code']}").mimetype == "image/gif"


# --- rate limits ----------------------------------------------------------------------------


def test_public_api_is_rate_limited_per_client_ip(limited_app, customer):
    client = limited_app.test_client()
    code = customer["ref_code"]
    answers = [post(client, "track-click", "203.0.113.70", browser(n), ref=code) for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # the limit is one bucket for the whole public API, not per endpoint
    limited = post(client, "track-conversion", "203.0.113.70", ref=code)
    assert limited.status_code == 429
    assert limited.get_json()["ok"] is False
    assert limited.get_json()["error"] == "rate_limited"
    assert limited.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in limited.headers
    # another client is not affected; the pixel stays a GIF when limited
    assert post(client, "track-click", "203.0.113.71", ref=code).status_code == 200
    pixel = _pixel(client, f"?ref={code}", ip="203.0.113.70")
    assert pixel.status_code == 200 and pixel.mimetype == "image/gif"
    preflight = client.options(
        "/api/referral/track-click",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
        environ_base={"REMOTE_ADDR": "203.0.113.70"},
    )
    assert preflight.status_code == 200
    assert counters(limited_app, customer["id"])["clicks"] == 4


def test_rate_limit_storage_holds_no_raw_ip(make_app, customer):
    from referral_app.extensions import limiter

    redis_url = make_app().config.get("REDIS_URL")
    storage = redis_url or "memory://"
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage)
    with app.app_context():
        limiter.reset()
    post(app.test_client(), "track-click", "203.0.113.72", ref=customer["ref_code"])
    with app.app_context():
        if redis_url:
            from referral_app.core.redis_conn import get_redis

            keys = [key.decode() for key in get_redis().scan_iter("LIMIT*")]
        else:
            keys = list(limiter.storage.storage)
        limiter.reset()
    assert keys and all("203.0.113.72" not in key for key in keys), keys


# --- client IP and proxies ------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_trusted_proxies(app, client, customer):
    code = customer["ref_code"]
    for forwarded in ("198.51.100.1", "198.51.100.2"):
        response = client.post(
            "/api/referral/track-click",
            json={"ref": code},
            headers={"User-Agent": FIREFOX, "X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        last = response.get_json()["status"]
    assert last == "duplicate"


def test_forwarded_for_is_honoured_through_one_trusted_proxy(make_app, customer):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    client = app.test_client()
    statuses = []
    for forwarded in ("198.51.100.1", "198.51.100.2", "198.51.100.2"):
        response = client.post(
            "/api/referral/track-click",
            json={"ref": customer["ref_code"]},
            headers={"User-Agent": FIREFOX, "X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        statuses.append(response.get_json()["status"])
    assert statuses == ["tracked", "tracked", "duplicate"]


# --- hosted pages ---------------------------------------------------------------------------


def test_program_link_redirects_to_its_own_code(client, customer):
    response = client.get(f"/p/{customer['ref_code']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/p/{customer['ref_code']}?ref={customer['ref_code']}"
    )


def test_freebie_page_with_participant_ref_carries_the_code(app, client, customer):
    participant = add_participant(app, customer["id"])
    response = client.get(f"/p/{customer['ref_code']}?ref={participant['ref_code']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<script src="/static/referral-tracking.js" data-page="freebie" async>' in page
    assert f'name="ref" value="{participant["ref_code"]}"' in page
    assert f'action="/p/{customer["ref_code"]}/danke"' in page
    assert 'lang="de"' in page and "Müller &amp; Söhne GmbH" in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    for url in re.findall(r'src="([^"]+)"', page):
        assert url.startswith("/"), url  # nothing loaded from elsewhere
    for url in re.findall(r'href="([^"]+)"', page):
        # links stay on our host, but for the customer's own privacy notice
        assert url.startswith(("/", "#")) or url == "https://mueller-soehne.example/datenschutz"


def test_freebie_page_ignores_a_code_of_another_program(app, client, customer):
    other = add_customer(app, "andere@example.com")
    stranger = add_participant(app, other["id"], "fremd@example.org")
    response = client.get(f"/p/{customer['ref_code']}?ref={stranger['ref_code']}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"?ref={customer['ref_code']}")


def test_thankyou_page_runs_the_script_for_the_conversion(client, customer):
    response = client.get(f"/p/{customer['ref_code']}/danke?ref={customer['ref_code']}&click_id=4")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'src="/static/referral-tracking.js" data-page="thankyou"' in page
    assert 'data-form-target="#referral-signup"' in page


@pytest.mark.parametrize("path", ["/p/REF999999ABCDEF", "/p/ZZZZZZZZ/danke", "/p/%C3%84"])
def test_unknown_program_page_is_a_friendly_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "text/html" in response.content_type


def test_participant_code_is_no_program_page(app, client, customer):
    participant = add_participant(app, customer["id"])
    assert client.get(f"/p/{participant['ref_code']}").status_code == 404


def test_inactive_program_pages_still_show_the_freebie_without_tracking(app, client, customer):
    from referral_app.models import Customer

    with app.app_context():
        db.session.get(Customer, customer["id"]).referral_enabled = False
        db.session.commit()
    for path in (
        f"/p/{customer['ref_code']}?ref={customer['ref_code']}",
        f"/p/{customer['ref_code']}/danke",
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert "text/html" in response.content_type
        page = response.get_data(as_text=True)
        assert "referral-tracking.js" not in page and 'data-program-active="no"' in page


def test_tracking_script_is_served_small(client):
    response = client.get("/static/referral-tracking.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    # Both languages' texts and the form's states ship in it: 12 KB, about 5 KB gzipped.
    assert len(response.data) < 12 * 1024
