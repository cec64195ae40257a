"""Benchmark: the customer dashboard with 1,000,000 clicks across 1,000 customers (MariaDB).

Not a test. It fills a MariaDB database (bulk INSERT … SELECT from MariaDB's sequence engine,
then `stats rebuild` makes the aggregates from the raw rows, exactly as the operator command
does), then measures the server time of the overview page and of the live stats fragment
through the Flask test client: p50/p95/p99 over N requests each, spread over many customers.
DESIGN.md's target: p95 ≤ 20 ms.

    BENCH_DATABASE_URL='mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4' \\
        .venv/bin/python benchmarks/dashboard.py [--requests 200] [--reuse]

The database's tables are dropped and made again by the migrations (unless --reuse finds the
data already there). Prints one JSON summary as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from referral_app import create_app  # noqa: E402
from referral_app.extensions import db  # noqa: E402
from referral_app.services import stats  # noqa: E402

PASSWORD = "bench-passwort"
BATCH = 100_000


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "mariadb": db.session.execute(text("SELECT VERSION()")).scalar(),
    }


def reset_schema() -> None:
    with db.engine.begin() as connection:
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        tables = [row[0] for row in connection.exec_driver_sql("SHOW TABLES")]
        for table in tables:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
    upgrade(revision="heads")


def code(expr: str) -> str:
    """The program code of customer `expr`, as SQL (same shape as codes.program_code)."""
    return f"CONCAT('REF', LPAD({expr}, 6, '0'), 'BENCH2')"


def generate(customers: int, clicks: int) -> dict:
    """Customers with logins, raw clicks/conversions/participants over 60 days, then the
    aggregates by `stats rebuild`. Returns the timings."""
    started = time.perf_counter()
    run = lambda sql: db.session.execute(text(sql))  # noqa: E731
    password_hash = generate_password_hash(PASSWORD)
    run(
        f"""INSERT INTO customers (id, company_name, contact_email, imprint, language, ref_code,
            referral_enabled, created_at, updated_at)
        SELECT seq, CONCAT('Bench GmbH ', seq), CONCAT('kunde', seq, '@example.com'),
            'Bench GmbH, Musterstraße 1, 10115 Berlin', 'de', {code("seq")}, 1,
            UTC_TIMESTAMP(), UTC_TIMESTAMP()
        FROM seq_1_to_{customers}"""
    )
    db.session.execute(
        text(
            f"""INSERT INTO users (email, password_hash, role, customer_id, active, created_at)
            SELECT CONCAT('bench', seq, '@example.com'), :hash, 'customer', seq, 1,
                UTC_TIMESTAMP() FROM seq_1_to_{customers}"""
        ),
        {"hash": password_hash},
    )
    db.session.commit()
    # 1,000,000 clicks: 90 % counted, 7 % duplicates, 3 % blocked; spread over 60 days.
    for first in range(1, clicks + 1, BATCH):
        last = min(first + BATCH - 1, clicks)
        run(
            f"""INSERT INTO referral_clicks (customer_id, ref_code, salt_id, fingerprint, ip_hash,
                status, reason, first_in_period, page, created_at)
            SELECT 1 + seq % {customers}, {code(f"1 + seq % {customers}")},
                (seq DIV {customers}) % 60,
                SHA2(seq, 256), SHA2(seq % 250000, 256),
                CASE WHEN seq % 100 < 90 THEN 'tracked' WHEN seq % 100 < 97 THEN 'duplicate'
                     ELSE 'blocked' END,
                CASE WHEN seq % 100 >= 97 THEN 'bot_user_agent' END,
                CASE WHEN seq % 100 < 90 THEN 1 END,
                'https://kunde.example/freebie',
                UTC_TIMESTAMP() - INTERVAL ((seq DIV {customers}) % 60) DAY
                    - INTERVAL (seq % 86000) SECOND
            FROM seq_{first}_to_{last}"""
        )
        db.session.commit()
    # One conversion for every tenth counted click; every twentieth of those suspicious.
    conversions = clicks // 10
    for first in range(1, conversions + 1, BATCH):
        last = min(first + BATCH - 1, conversions)
        run(
            f"""INSERT INTO referral_conversions (customer_id, ref_code, salt_id, fingerprint,
                ip_hash, status, suspicious, reasons, first_in_period, page, created_at)
            SELECT 1 + seq % {customers}, {code(f"1 + seq % {customers}")},
                (seq DIV {customers}) % 60,
                SHA2(CONCAT('c', seq), 256), SHA2(seq % 250000, 256), 'tracked',
                seq % 20 = 0, IF(seq % 20 = 0, '["fast_conversion"]', '[]'), 1,
                'https://kunde.example/danke',
                UTC_TIMESTAMP() - INTERVAL ((seq DIV {customers}) % 60) DAY
                    - INTERVAL (seq % 86000) SECOND
            FROM seq_{first}_to_{last}"""
        )
        db.session.commit()
    participants = customers * 20
    run(
        f"""INSERT INTO referral_leads (customer_id, ref_code, email_encrypted, email_hash,
            alias_hash, status, language, consent_given_at, confirmed_at, clicks, unique_clicks,
            conversions, suspicious_conversions, created_at, updated_at)
        SELECT 1 + seq % {customers}, CONCAT('P', LPAD(seq, 7, '0')), UNHEX(SHA2(seq, 256)),
            SHA2(CONCAT('e', seq), 256), SHA2(CONCAT('a', seq), 256),
            IF(seq % 4 = 0, 'pending', 'confirmed'), 'de',
            UTC_TIMESTAMP() - INTERVAL ((seq DIV {customers}) % 60) DAY,
            IF(seq % 4 = 0, NULL,
               UTC_TIMESTAMP() - INTERVAL ((seq DIV {customers}) % 60) DAY + INTERVAL 5 MINUTE),
            0, 0, 0, 0,
            UTC_TIMESTAMP() - INTERVAL ((seq DIV {customers}) % 60) DAY, UTC_TIMESTAMP()
        FROM seq_1_to_{participants}"""
    )
    db.session.commit()
    inserted = time.perf_counter()
    summary = stats.rebuild()
    rebuilt = time.perf_counter()
    check = stats.rebuild(check=True)
    return {
        "insert_seconds": round(inserted - started, 1),
        "rebuild_seconds": round(rebuilt - inserted, 1),
        "rebuild_check_ok": check["ok"],
        "daily_rows": summary["daily_rows"],
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(app, requests: int, customers: int) -> dict:  # type: ignore[no-untyped-def]
    """Round-robin over 20 logged-in customers spread across the id range."""
    clients = []
    for n in range(20):
        customer_id = 1 + n * (customers // 20)
        client = app.test_client()
        response = client.post(
            "/login", data={"email": f"bench{customer_id}@example.com", "password": PASSWORD}
        )
        assert response.status_code == 302, response.status_code
        clients.append(client)

    def timed(path: str, headers: dict | None = None, expect: int = 200) -> dict:
        for client in clients:  # warm-up: connections, templates, caches
            client.get(path, headers=headers or {})
        samples, cpu = [], []
        for i in range(requests):
            client = clients[i % len(clients)]
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path, headers=headers or {})
            samples.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == expect, (path, response.status_code)
        return {
            "requests": requests,
            "p50_ms": round(percentile(samples, 50), 2),
            "p95_ms": round(percentile(samples, 95), 2),
            "p99_ms": round(percentile(samples, 99), 2),
            "mean_ms": round(statistics.fmean(samples), 2),
            # Python CPU time of the request (the app's own work, without waiting for MariaDB)
            "cpu_p50_ms": round(percentile(cpu, 50), 2),
            "cpu_p95_ms": round(percentile(cpu, 95), 2),
        }

    results = {
        "overview": timed("/dashboard/"),
        "stats_fragment": timed("/dashboard/stats", {"HX-Request": "true"}),
        "get_stats_api": timed("/api/referral/get-stats"),
        # Loaded into the overview right after it (hx-trigger="load"): raw rows, bounded.
        "not_counted_fragment": timed("/dashboard/not-counted", {"HX-Request": "true"}),
    }
    # The poll when nothing changed: the browser revalidates with its ETag and gets a 304.
    etags = [
        c.get("/dashboard/stats", headers={"HX-Request": "true"}).headers["ETag"] for c in clients
    ]
    samples = []
    for i in range(requests):
        client = clients[i % len(clients)]
        headers = {"HX-Request": "true", "If-None-Match": etags[i % len(clients)]}
        start = time.perf_counter()
        response = client.get("/dashboard/stats", headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 304
    results["stats_fragment_304"] = {
        "requests": requests,
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
    }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep existing data if present")
    args = parser.parse_args()
    url = os.environ.get(
        "BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4"
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-secret",
            "HASH_KEY": "bench-hash",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            "REDIS_URL": None,
            "JOBS_INLINE": True,
            "PUBLIC_BASE_URL": "http://localhost",
        }
    )
    with app.app_context():
        existing = 0
        if args.reuse:
            try:
                existing = db.session.execute(text("SELECT COUNT(*) FROM referral_clicks")).scalar()
            except Exception:  # noqa: BLE001 - no table yet: generate
                db.session.rollback()
        if existing >= args.clicks:
            generated = {"reused": True}
        else:
            reset_schema()
            generated = generate(args.customers, args.clicks)
        counts = {
            table: db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
            for table in (
                "customers",
                "referral_clicks",
                "referral_conversions",
                "referral_leads",
                "referral_daily_stats",
            )
        }
        info = machine()
        db.session.remove()
    load_before = os.getloadavg()
    results = measure(app, args.requests, args.customers)
    info["loadavg_1m_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    print(
        json.dumps(
            {
                "ok": True,
                "machine": info,
                "rows": counts,
                "generate": generated,
                "results": results,
                "target_p95_ms": 20,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
