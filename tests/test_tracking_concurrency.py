"""Many clients at once against a real `gunicorn -w 4`: the counters equal the answers given
and `stats rebuild --check` finds no difference (DESIGN.md "Statistics")."""

from __future__ import annotations

import http.client
import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from .support_tracking import (
    BOTS,
    add_participant,
    browser,
    counters,
    fresh_salts,  # noqa: F401
    gunicorn,  # noqa: F401
    participant_counters,
    stats_check,
)

pytestmark = pytest.mark.both_backends  # concurrent writes: locking, unique keys

CLIENTS = 16
EVENTS_PER_CLIENT = 300


def _plan(seed: int, codes: list[str]) -> list[tuple[str, str, str, str]]:
    """One client's events: (endpoint, code, forwarded IP, user agent). Visitors are shared
    between clients, so the same visitor races itself on the unique keys; some IPs are busy
    enough to reach the daily limit; a few bots."""
    rng = random.Random(seed)
    plan = []
    for _ in range(EVENTS_PER_CLIENT):
        visitor = rng.randrange(400)
        ip = f"10.{visitor % 7}.{visitor % 50}.{visitor % 3}"
        agent = BOTS["googlebot"] if rng.random() < 0.04 else browser(visitor)
        endpoint = "track-click" if rng.random() < 0.65 else "track-conversion"
        plan.append((endpoint, rng.choice(codes), ip, agent))
    return plan


def _run(base: str, plan: list[tuple[str, str, str, str]]) -> list[tuple[str, str, dict]]:
    parts = urlsplit(base)
    answers = []
    for endpoint, code, ip, agent in plan:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        connection.request(
            "POST",
            f"/api/referral/{endpoint}",
            body=json.dumps({"ref": code, "page": "https://coach.example/frei"}),
            headers={
                "Content-Type": "application/json",
                "User-Agent": agent,
                "X-Forwarded-For": ip,
            },
        )
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == 200, body
        answers.append((endpoint, code, json.loads(body)))
    return answers


def _tally(answers: list[tuple[str, str, dict]]) -> dict[str, int]:
    names = ("clicks", "unique_clicks", "blocked_clicks", "conversions")
    names += ("suspicious_conversions", "blocked_conversions")
    seen: Counter[str] = Counter(dict.fromkeys(names, 0))
    for endpoint, _code, body in answers:
        status = body["status"]
        if endpoint == "track-click":
            seen["clicks"] += status != "blocked"
            seen["unique_clicks"] += status == "tracked"
            seen["blocked_clicks"] += status == "blocked"
        else:
            seen["conversions"] += status == "tracked"
            seen["suspicious_conversions"] += status == "tracked" and body["suspicious"]
            seen["blocked_conversions"] += status == "blocked"
    return dict(seen)


@pytest.mark.slow
def test_parallel_clients_against_gunicorn_leave_exact_counters(app, customer, gunicorn):  # noqa: F811
    participant = add_participant(app, customer["id"])
    codes = [customer["ref_code"], participant["ref_code"]]
    base = gunicorn(workers=4, TRUSTED_PROXY_COUNT="1")
    plans = [_plan(seed, codes) for seed in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda plan: _run(base, plan), plans))
    answers = [answer for result in results for answer in result]
    assert len(answers) == CLIENTS * EVENTS_PER_CLIENT

    expected = _tally(answers)
    stored = counters(app, customer["id"])
    assert {name: stored[name] for name in expected} == expected
    # every kind of outcome happened, so the comparison above means something
    statuses = Counter((endpoint, body["status"]) for endpoint, _code, body in answers)
    assert all(
        statuses[(endpoint, status)] > 0
        for endpoint in ("track-click", "track-conversion")
        for status in ("tracked", "duplicate", "blocked")
    ), statuses

    mine = _tally([a for a in answers if a[1] == participant["ref_code"]])
    assert participant_counters(app, participant["id"]) == {
        "clicks": mine["clicks"],
        "unique_clicks": mine["unique_clicks"],
        "conversions": mine["conversions"],
        "suspicious_conversions": mine["suspicious_conversions"],
    }
    assert stats_check(app) == 0
