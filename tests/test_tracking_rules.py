"""The tracking engine's pieces as plain functions: rule decisions, input cleaning, windowed
counters (database and Redis), the code cache."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.tracking import fraud, owners, rate_counters

from .support_tracking import (
    FIREFOX,
    click,
    counters,
    fresh_salts,  # noqa: F401
    post,
)

pytestmark = pytest.mark.both_backends  # fraud rules count with SQL that differs by engine


@pytest.mark.parametrize(
    ("count", "limit", "over"), [(1, 1, False), (2, 1, True), (10, 10, False), (11, 10, True)]
)
def test_limits_let_the_limit_th_event_pass(count, limit, over):
    assert fraud.over_limit(count, limit) is over


@pytest.mark.parametrize(
    ("seconds", "fast"), [(-3.0, True), (0.0, True), (4.999, True), (5.0, False), (60.0, False)]
)
def test_fast_conversion_threshold(seconds, fast):
    assert fraud.is_fast_conversion(seconds, 5) is fast


def test_ip_day_key_ends_with_the_utc_day():
    key, ttl = rate_counters.ip_day_key("abc", datetime(2031, 3, 12, 23, 59, 0))
    assert key == "ipday:20310312:abc"
    assert 60 < ttl <= 120


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("ABCD2345", "ABCD2345"), ("  abcd2345 ", "ABCD2345"), ("ref-1_x", "REF-1_X")],
)
def test_parse_ref_accepts_codes_in_any_case(value, parsed):
    assert owners.parse_ref(value) == parsed


@pytest.mark.parametrize("value", [None, "", "a b", "ä", "x" * 65, 7, ["A"], b"ABC"])
def test_parse_ref_refuses_everything_else(value):
    with pytest.raises(owners.InvalidRef):
        owners.parse_ref(value)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [(1, 1), ("42", 42), (" 7 ", 7), (0, None), (-1, None), (True, None), (2**63, None)],
)
def test_parse_click_id(value, parsed):
    assert owners.parse_click_id(value) == parsed


def test_database_counter_window_starts_with_the_first_event(make_app):
    from referral_app.models import RateCounter

    app = make_app(REDIS_URL=None)
    start = datetime(2031, 3, 12, 10, 0)
    with app.app_context():
        session = db.session()
        assert rate_counters.hit(session, "k", 3600, start) == 1
        assert rate_counters.hit(session, "k", 3600, start + timedelta(minutes=59)) == 2
        assert rate_counters.hit(session, "k", 3600, start + timedelta(minutes=61)) == 1
        assert (
            rate_counters.hit(session, "other", 3600, start + timedelta(minutes=62), also="k") == 2
        )
        session.commit()
        assert rate_counters.purge_expired_counters(session, start + timedelta(hours=3)) == 2
        session.commit()
        assert db.session.scalars(select(RateCounter)).all() == []


def test_redis_counter_window_follows_the_apps_clock(app):
    if not app.config.get("REDIS_URL"):
        pytest.skip("Redis runs with the MariaDB backend")
    start = datetime(2031, 3, 12, 10, 0)
    with app.app_context():
        session = db.session()
        assert rate_counters.hit(session, "k", 3600, start) == 1
        assert rate_counters.hit(session, "k", 3600, start + timedelta(minutes=59)) == 2
        assert rate_counters.hit(session, "k", 3600, start + timedelta(minutes=61)) == 1
        assert (
            rate_counters.hit(session, "other", 3600, start + timedelta(minutes=62), also="k") == 2
        )


def test_fraud_log_refuses_unknown_types(app):
    with app.app_context(), pytest.raises(ValueError):
        fraud.write_log(
            db.session(),
            [fraud.Finding("made_up", {})],
            event="click",
            customer_id=1,
            participant_id=None,
            ref_code="X",
            ip_hash="h",
            now=datetime(2031, 1, 1),
        )


def test_fraud_details_hold_no_personal_data(app, client, customer):
    from referral_app.models import FraudLogEntry

    code = customer["ref_code"]
    with time_machine.travel(datetime(2031, 3, 12, 10, 0), tick=False):
        click(client, code, "203.0.113.99", FIREFOX)
        click(client, code, "203.0.113.99", FIREFOX)
        post(client, "track-conversion", "203.0.113.99", "curl/8.5.0", ref=code)
    with app.app_context():
        entries = db.session.scalars(select(FraudLogEntry)).all()
    assert len(entries) == 2
    for entry in entries:
        text = repr(entry.details)
        assert "203.0.113" not in text and "Firefox" not in text and "curl" not in text
        assert entry.ip_hash and len(entry.ip_hash) == 64


# --- the code cache ----------------------------------------------------------------------------


def _pause(app, customer_id: int) -> None:
    from referral_app.models import Customer

    with app.app_context():
        db.session.get(Customer, customer_id).referral_enabled = False
        db.session.commit()


def test_paused_program_is_seen_at_once_after_forgetting_the_cache(app, client, customer):
    code = customer["ref_code"]
    assert click(client, code, "203.0.113.80")["status"] == "tracked"
    _pause(app, customer["id"])
    owners.forget_cached_codes()
    assert post(client, "track-click", "203.0.113.81", ref=code).status_code == 403


def test_paused_program_is_seen_within_the_cache_time(make_app, customer):
    app = make_app(TRACKING_CODE_CACHE_SECONDS=0)
    client = app.test_client()
    code = customer["ref_code"]
    assert click(client, code, "203.0.113.82")["status"] == "tracked"
    _pause(app, customer["id"])
    assert post(client, "track-click", "203.0.113.83", ref=code).status_code == 403


def test_erased_participant_in_the_cache_answers_404_not_500(app, client, customer):
    from referral_app.models import Participant

    from .support_tracking import add_participant

    participant = add_participant(app, customer["id"])
    assert click(client, participant["ref_code"], "203.0.113.84")["status"] == "tracked"
    with app.app_context():
        db.session.execute(
            db.text("UPDATE referral_clicks SET participant_id = NULL"),
        )
        db.session.delete(db.session.get(Participant, participant["id"]))
        db.session.commit()
    response = post(client, "track-click", "203.0.113.85", ref=participant["ref_code"])
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_ref"
    assert counters(app, customer["id"])["clicks"] == 1


def _user_agents_for_the_crawler_list() -> list[str]:
    """Every plain name in crawlerdetect's list inside a browser-like user agent, real
    browsers, in-app browsers and the simulator's agents: each one of them exercised."""
    import re

    from crawlerdetect.providers.crawlers import data as patterns

    from . import simulator

    agents = [
        FIREFOX,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Mobile Safari/537.36 [Pinterest/Android]",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (Linux; Android 10) YandexSearch/7.71 Mobile Safari/537.36",
        "Yandex",
    ]
    agents += [ua for ua in vars(simulator).values() if isinstance(ua, str) and "/" in ua]
    for pattern in patterns:
        name = pattern.lstrip("^").rstrip("$").replace("\\", "")
        if not re.search(r"[\[\](){}|*+?]", name):
            agents.append(f"Mozilla/5.0 (compatible; {name}/2.1; +https://example.org/bot)")
            agents.append(f"{name}/1.0")
    return agents


def test_the_bot_list_gives_crawlerdetects_verdict_for_every_agent():
    """visitor.listed_crawler runs crawlerdetect's list through RE2 (linear time); it must
    say exactly what crawlerdetect itself says."""
    from crawlerdetect import CrawlerDetect

    from referral_app.tracking.visitor import listed_crawler

    detector = CrawlerDetect()
    agents = _user_agents_for_the_crawler_list()
    assert len(agents) > 1000
    differ = [ua for ua in agents if listed_crawler(ua) != detector.is_crawler(ua)]
    assert differ == []
    assert sum(listed_crawler(ua) for ua in agents) > 1000
