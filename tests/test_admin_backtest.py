"""The rule backtest: what a rule with another threshold would have flagged over the stored
events of the last 90 days, checked against a direct SQL count of the same thing."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from referral_app.models import STATUS_BLOCKED, STATUS_DUPLICATE, utcnow

from .conftest import sql
from .support_admin import admin_client, world  # noqa: F401

pytestmark = pytest.mark.both_backends  # backtest SQL checked against a direct count

FAST_SQL = """
    SELECT COUNT(*) FROM referral_conversions
    WHERE status = 'tracked' AND seconds_since_click < :t AND created_at >= :since
"""
CLICKS_PER_IP_DAY_SQL = """
    SELECT COALESCE(SUM(n - :t), 0), COUNT(*) FROM (
        SELECT COUNT(*) AS n FROM referral_clicks
        WHERE created_at >= :since AND (status = 'tracked' OR reason = 'ip_daily_limit')
        GROUP BY ip_hash, DATE(created_at)
    ) per_ip_day WHERE n > :t
"""
CONVERSIONS_PER_IP_DAY_SQL = """
    SELECT COALESCE(SUM(n - :t), 0), COUNT(*) FROM (
        SELECT COUNT(*) AS n FROM referral_conversions
        WHERE created_at >= :since AND (
            status = 'tracked'
            OR (status = 'blocked' AND reasons LIKE '%"conversion_rate_limit"%')
        )
        GROUP BY customer_id, ip_hash, DATE(created_at)
    ) per_ip_day WHERE n > :t
"""


def _noon(days_ago: int) -> datetime:
    return datetime.combine((utcnow() - timedelta(days=days_ago)).date(), time(12))


def _since() -> datetime:
    # A minute earlier than the service's own "now - 90 days": no test event lies in between.
    return utcnow() - timedelta(days=90, minutes=1)


def _run(client, query: str) -> dict:
    response = client.get(f"/api/referral/fraud-backtest?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_fast_conversion_backtest_matches_a_direct_count(app, admin_client, world):  # noqa: F811
    shop = world.customer("Schnell GmbH")
    other = world.customer("Langsam AG")
    for seconds, n in ((1.0, 2), (4.9, 3), (5.0, 1), (7.5, 4), (12.0, 5), (300.0, 6)):
        world.conversions(shop, n, seconds=seconds, at=_noon(3))
    world.conversions(other, 2, seconds=6.0, at=_noon(10))
    world.conversions(other, 9, seconds=2.0, at=_noon(120))  # older than 90 days
    world.conversions(other, 4, seconds=2.0, status=STATUS_DUPLICATE, at=_noon(2))
    world.conversions(other, 3, seconds=None, at=_noon(2))  # no click to measure from
    world.fraud(shop, "fast_conversion", n=5, at=_noon(3))
    result = _run(admin_client, "rule=fast_conversion&threshold=8")
    since = _since()
    assert result["candidate"]["flagged"] == sql(app, FAST_SQL, t=8, since=since)[0][0] == 12
    assert result["current"]["flagged"] == sql(app, FAST_SQL, t=5, since=since)[0][0] == 5
    assert result["current_threshold"] == 5
    assert result["difference"] == 7
    assert result["candidate"]["customers"] == 2 and result["current"]["customers"] == 1
    assert result["candidate"]["ip_days"] is None
    assert result["logged"] == 5
    assert result["events"] == 21 + 2  # counted conversions with a measured click, in 90 days
    assert [row["customer_id"] for row in result["by_customer"]] == [shop, other]
    assert result["by_customer"][0] == {
        "customer_id": shop,
        "company_name": "Schnell GmbH",
        "candidate": 10,
        "current": 5,
        "events": 21,
    }
    decimal = _run(admin_client, "rule=fast_conversion&threshold=4,95")
    assert decimal["candidate"]["flagged"] == sql(app, FAST_SQL, t=4.95, since=since)[0][0] == 5


def test_ip_daily_limit_backtest_matches_a_direct_count(app, admin_client, world):  # noqa: F811
    first = world.customer("Erste GmbH")
    second = world.customer("Zweite GmbH")
    world.clicks(first, 8, ip_hash="busy", at=_noon(3))
    world.clicks(second, 7, ip_hash="busy", at=_noon(3) + timedelta(hours=1), status=STATUS_BLOCKED)
    world.clicks(first, 10, ip_hash="busy", at=_noon(4))
    world.clicks(first, 2, ip_hash="busy", at=_noon(4) + timedelta(hours=1), status=STATUS_BLOCKED)
    world.clicks(second, 8, ip_hash="medium", at=_noon(5))
    # Never reach the IP check: duplicates and clicks another rule blocked.
    world.clicks(
        first, 9, ip_hash="busy", at=_noon(3), status=STATUS_DUPLICATE, reason="click_rate_limit"
    )
    world.clicks(
        second, 9, ip_hash="bot", at=_noon(2), status=STATUS_BLOCKED, reason="bot_user_agent"
    )
    world.clicks(first, 30)  # thirty different IP hashes
    world.clicks(second, 40, ip_hash="old", at=_noon(100))
    result = _run(admin_client, "rule=ip_daily_limit&threshold=5")
    table_sql = CLICKS_PER_IP_DAY_SQL
    since = _since()
    for key, threshold in (("candidate", 5), ("current", 10)):
        flagged, ip_days = sql(app, table_sql, t=threshold, since=since)[0]
        assert result[key]["flagged"] == flagged
        assert result[key]["ip_days"] == ip_days
    assert result["candidate"]["flagged"] == 10 + 7 + 3
    assert result["current"]["flagged"] == 5 + 2
    by_customer = {row["customer_id"]: row for row in result["by_customer"]}
    # On day 3 the first five clicks pass: three of the first customer's eight are over.
    assert by_customer[first]["candidate"] == 3 + 7
    assert by_customer[second]["candidate"] == 7 + 3
    assert result["events"] == 8 + 7 + 12 + 8 + 30


def test_conversions_per_ip_backtest_matches_a_direct_count(app, admin_client, world):  # noqa: F811
    shop = world.customer("Konversion GmbH")
    neighbour = world.customer("Nachbar GmbH")
    world.conversions(shop, 1, ip_hash="office", at=_noon(1))
    world.conversions(
        shop,
        3,
        ip_hash="office",
        at=_noon(1) + timedelta(minutes=5),
        status=STATUS_BLOCKED,
        reasons=["conversion_rate_limit"],
    )
    world.conversions(neighbour, 1, ip_hash="office", at=_noon(1))  # another program: its own
    world.conversions(shop, 2, ip_hash="home", at=_noon(6))
    world.conversions(shop, 2, ip_hash="home", at=_noon(7))
    world.conversions(shop, 5)
    # Never reach the IP check: a bot and a duplicate.
    world.conversions(
        shop, 3, ip_hash="office", at=_noon(1), status=STATUS_BLOCKED, reasons=["bot_user_agent"]
    )
    world.conversions(shop, 3, ip_hash="office", at=_noon(1), status=STATUS_DUPLICATE)
    table_sql = CONVERSIONS_PER_IP_DAY_SQL
    since = _since()
    for threshold in (1, 2, 3):
        result = _run(admin_client, f"rule=conversion_rate_limit&threshold={threshold}")
        flagged, ip_days = sql(app, table_sql, t=threshold, since=since)[0]
        assert result["candidate"] == {
            "flagged": flagged,
            "ip_days": ip_days,
            "customers": 1 if flagged else 0,
        }
    assert (
        _run(admin_client, "rule=conversion_rate_limit&threshold=1")["candidate"]["flagged"]
        == 3 + 1 + 1
    )


def test_backtest_without_events_flags_nothing(admin_client):  # noqa: F811
    result = _run(admin_client, "rule=ip_daily_limit")
    assert result["threshold"] == result["current_threshold"] == 10
    assert result["candidate"] == {"flagged": 0, "ip_days": 0, "customers": 0}
    assert result["by_customer"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "rule"),
        ("rule=velocity_of_light", "rule"),
        ("rule=ip_daily_limit&threshold=2.5", "threshold"),
        ("rule=ip_daily_limit&threshold=0", "threshold"),
        ("rule=fast_conversion&threshold=abc", "threshold"),
        ("rule=fast_conversion&threshold=nan", "threshold"),
        ("rule=fast_conversion&threshold=1e9", "threshold"),
        ("rule=fast_conversion&days=400", "days"),
        ("rule=fast_conversion&days=-1", "days"),
    ],
)
def test_backtest_refuses_bad_input_with_400(admin_client, query, field):  # noqa: F811
    response = admin_client.get(f"/api/referral/fraud-backtest?{query}")
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
