"""`make bench` still runs: benchmarks/run.py end to end on tiny sizes (MariaDB + Redis only:
the data sets come from MariaDB's sequence engine). No figure is asserted, only that every
phase ran and left the aggregates exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.both_backends,  # MariaDB + Redis only (it needs no `backend`)
    pytest.mark.skipif(
        not (DATABASE_URL and REDIS_URL and DATABASE_URL.startswith("mysql")),
        reason="the benchmarks need MariaDB and Redis (TEST_DATABASE_URL, TEST_REDIS_URL)",
    ),
]


@pytest.fixture
def bench_database_url():
    """<test db>_bench (run.py adds _dashboard and _daily), dropped again afterwards."""
    from sqlalchemy import create_engine

    url = make_url(DATABASE_URL)
    bench = url.set(database=f"{url.database}_bench")
    yield bench.render_as_string(hide_password=False)
    engine = create_engine(url)
    with engine.begin() as connection:
        for suffix in ("", "_dashboard", "_daily"):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{bench.database}{suffix}`")
    engine.dispose()


def _other_redis_db(redis_url: str) -> str:
    """run.py flushes its Redis db: never one the suite uses (under xdist conftest.py sets
    TEST_BENCH_REDIS_URL to a db past every worker's)."""
    from redis.connection import parse_url

    if os.environ.get("TEST_BENCH_REDIS_URL"):
        return os.environ["TEST_BENCH_REDIS_URL"]

    number = int(parse_url(redis_url).get("db", 0))
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    return f"{base}/{(number + 1) % 16}"


def test_bench_quick_run_measures_every_phase_and_keeps_the_aggregates_exact(bench_database_url):
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": bench_database_url,
        "BENCH_REDIS_URL": _other_redis_db(REDIS_URL),
    }
    tiny = "--duration 1 --requests 5 --customers 20 --clicks 2000 --participants 100"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--no-doc", "--drain-timeout", "2"]
        + tiny.split(),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    tracking = report["tracking"]
    for name in (
        "bare_noop",
        "noop",
        "track_click",
        "track_conversion",
        "track_conversion_webhook",
    ):
        assert tracking["results"][name]["requests"] > 0
        assert tracking["results"][name]["non_2xx"] == 0
    assert tracking["rows"]["referral_clicks"] > 0
    assert tracking["stats_check_differences"] == 0

    dashboard = report["dashboard"]
    assert dashboard["rows"]["referral_clicks"] == 2000
    assert dashboard["generate"]["rebuild_check_differences"] == 0
    assert dashboard["results"]["stats_fragment"]["requests"] == 5

    daily = report["daily"]
    assert daily["first"]["summary"]["unconfirmed_deleted"] == 10
    assert daily["first"]["summary"]["reward_mails_queued"] > 0
    assert daily["second"]["summary"]["reward_mails_queued"] == 0
    assert daily["stats_check_differences"] == 0
    assert "cpu" in report["machine"]
