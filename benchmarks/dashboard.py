"""The customer dashboard with 1,000,000 clicks across 1,000 customers (MariaDB).

Fills a database with the data set of `data.dashboard` (bulk `INSERT … SELECT`), makes the
aggregates with `stats rebuild` exactly as the operator command does and proves them with
`stats rebuild --check`, then measures the server time of the overview page, the live stats
fragment and the rest of what the page loads, through the Flask test client: p50/p95/p99
over N requests each, round-robin over 20 customers spread across the id range. DESIGN.md's
target: p95 <= 20 ms. Run through `benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from sqlalchemy import func, select, text
from werkzeug.security import generate_password_hash

from benchmarks import data
from benchmarks.common import load, make_app, percentile, reset_schema

PASSWORD = data.PASSWORD


def generate(app, customers: int, clicks: int) -> dict[str, Any]:
    """Fresh tables, the raw rows, then the aggregates by `stats rebuild`."""
    from referral_app.extensions import db
    from referral_app.tracking import recount

    reset_schema(app)
    with app.app_context():
        started = time.perf_counter()
        with db.engine.connect() as connection:
            data.dashboard(connection, customers, clicks, generate_password_hash(PASSWORD))
        inserted = time.perf_counter()
        summary = recount.rebuild()
        db.session.commit()
        rebuilt = time.perf_counter()
        check = recount.rebuild(check=True)
        db.session.remove()
    return {
        "insert_seconds": round(inserted - started, 1),
        "rebuild_seconds": round(rebuilt - inserted, 1),
        "check_seconds": round(time.perf_counter() - rebuilt, 1),
        "rebuild_check_differences": check["differences"],
        "daily_rows": summary["daily_rows"],
    }


def row_counts(app) -> dict[str, int]:
    from referral_app.extensions import db

    tables = ("customers", "referral_clicks", "referral_conversions", "referral_leads")
    with app.app_context():
        counts = {
            table: db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
            for table in (*tables, "referral_daily_stats")
        }
        db.session.remove()
    return counts


def measure(app, requests: int, customers: int) -> dict:
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
        before = load()
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
            "load_1m": [before, load()],
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
    before = load()
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
        "load_1m": [before, load()],
    }
    return results


def run(url: str, settings: argparse.Namespace) -> dict[str, Any]:
    """Generate (unless `settings.reuse` finds the data set there), then measure."""
    from referral_app.extensions import db
    from referral_app.models import Click

    app = make_app(url)
    existing = 0
    if settings.reuse:
        with app.app_context():
            try:
                existing = db.session.scalar(select(func.count()).select_from(Click))
            except Exception:  # noqa: BLE001 - no tables yet: generate
                existing = 0
            db.session.remove()
    if existing == settings.clicks:
        generated: dict[str, Any] = {"reused": True}
    else:
        generated = generate(app, settings.customers, settings.clicks)
    before = load()
    results = measure(app, settings.requests, settings.customers)
    return {
        "rows": row_counts(app),
        "generate": generated,
        "results": results,
        "load_1m": [before, load()],
    }
