"""register-lead: how long the answer takes for a known and for a new address (issue 14,
item 7: the timing must not tell them apart). Not a test; the test is
tests/test_signup_abuse.py::test_known_and_new_addresses_take_indistinguishable_time.

In-process (the app's own WSGI call, no network), on MariaDB + Redis as in production (RQ
takes the jobs; no worker runs, so nothing is sent). The answer comes before the sign-up's
work (participants/intake.py): between answers, outside the timing, the benchmark does that
work itself, so the known address really is a stored participant. Known and new sign-ups are
interleaved, so a busy machine slows both alike; the time is until the answer is there.
Prints one JSON line: medians and p90 in ms, and the rank test's p-value.

    BENCH_DATABASE_URL='mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4' \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python benchmarks/signup_timing.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from benchmarks.common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    create_database,
    database_url,
    load,
    make_app,
    percentile,
    reset_schema,
)
from tests.test_signup_abuse import mann_whitney_p  # noqa: E402


def _customer_code(app) -> str:
    from referral_app.accounts import users as accounts
    from referral_app.extensions import db

    with app.app_context():
        customer, _user = accounts.create_customer("bench@example.com", "x" * 12, "Bench GmbH")
        customer.imprint, customer.privacy_url = "Bench GmbH", "https://bench.example/ds"
        customer.referral_enabled = True
        db.session.commit()
        return customer.ref_code


def _answer_ms(client, ref: str, address: str, ip: str) -> float:
    started = time.perf_counter()
    response = client.post(
        "/api/referral/register-lead",
        json={"ref": ref, "email": address, "consent": True},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
        environ_base={"REMOTE_ADDR": ip},
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 202, response.get_data(as_text=True)
    _process_intake(client.application)
    return elapsed


def _process_intake(app) -> None:
    """What the worker's jobs.signup.process would do (RQ holds the jobs; none runs here)."""
    from sqlalchemy import select

    from referral_app.extensions import db
    from referral_app.models import SignupIntake
    from referral_app.participants import signup

    with app.app_context():
        for intake_id in db.session.scalars(select(SignupIntake.id)).all():
            signup.process(intake_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    url = database_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL), "_signup")
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    create_database(url)
    Redis.from_url(redis_url).flushdb()
    app = make_app(url, redis_url)
    reset_schema(app)
    ref = _customer_code(app)
    client = app.test_client()
    for n in range(10):  # warm-up
        _answer_ms(client, ref, f"warm{n}@example.org", "198.51.100.1")
    _answer_ms(client, ref, "known@example.org", "198.51.100.1")
    start_load = load()
    known, new = [], []
    for n in range(args.pairs):
        ip = f"198.51.{100 + n // 250}.{n % 250 + 1}"
        pair = [(known, "known@example.org"), (new, f"new{n}@example.org")]
        for sample, address in pair if n % 2 else reversed(pair):
            sample.append(_answer_ms(client, ref, address, ip))
    print(
        json.dumps(
            {
                "pairs": args.pairs,
                "known_median_ms": round(percentile(known, 50), 2),
                "new_median_ms": round(percentile(new, 50), 2),
                "known_p90_ms": round(percentile(known, 90), 2),
                "new_p90_ms": round(percentile(new, 90), 2),
                "mann_whitney_p": round(mann_whitney_p(known, new), 4),
                "load": [start_load, load()],
            }
        )
    )


if __name__ == "__main__":
    main()
