"""`make bench`: every benchmark against MariaDB + Redis, one table of figures and targets.

Not a test. Three phases, each on its own database (made if missing; its tables dropped and
made again by the migrations):

- tracking (`<db>`): gunicorn (2 workers per core) + an RQ worker, wrk on the same machine;
  track-click and track-conversion next to a no-op on the same server (`track.py`);
- dashboard (`<db>_dashboard`): 1,000,000 clicks across 1,000 customers; the overview page
  and the stats fragment, p95 (`dashboard.py`);
- daily (`<db>_daily`): the daily job on 10,000 participants, run by the RQ worker
  (`daily.py`).

    BENCH_DATABASE_URL='mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4' \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python benchmarks/run.py [--quick] [--only tracking,dashboard,daily] [--no-doc]

The Redis db is flushed. Prints the elapsed time of each phase as it goes, the table at the
end and one JSON summary as the last line; writes the figures into docs/performance.md
(the parts between `<!-- bench:… -->` markers; the analysis around them is left alone)
unless --no-doc. The box is shared: every figure carries the 1-minute load average at its
start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from benchmarks import daily, dashboard, track  # noqa: E402
from benchmarks.common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    ROOT,
    Phases,
    create_database,
    database_url,
    machine,
)

DOC = ROOT / "docs" / "performance.md"
PHASES = ("tracking", "dashboard", "daily")
QUICK = {
    "duration": 2,
    "requests": 40,
    "clicks": 20_000,
    "customers": 40,
    "participants": 500,
    "drain_timeout": 10,
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run, small sizes")
    parser.add_argument("--only", default=",".join(PHASES), help="phases, comma-separated")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/performance.md alone")
    parser.add_argument("--duration", type=int, help="seconds per tracking run (15)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers"
    )
    parser.add_argument("--requests", type=int, help="requests per dashboard endpoint (200)")
    parser.add_argument("--customers", type=int, help="dashboard customers (1,000)")
    parser.add_argument("--clicks", type=int, help="dashboard clicks (1,000,000)")
    parser.add_argument("--reuse", action="store_true", help="keep a dashboard data set there")
    parser.add_argument("--participants", type=int, help="daily-job participants (10,000)")
    parser.add_argument("--drain-timeout", type=int, help="seconds to wait for the worker (60)")
    parser.add_argument("--job-timeout", type=int, default=600, help="seconds per job")
    args = parser.parse_args(argv)
    defaults = {
        "duration": 15,
        "requests": 200,
        "clicks": 1_000_000,
        "customers": 1000,
        "participants": 10_000,
        "drain_timeout": 60,
    }
    for key, value in (QUICK if args.quick else defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    base = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    urls = {
        "tracking": database_url(base),
        "dashboard": database_url(base, "_dashboard"),
        "daily": database_url(base, "_daily"),
    }
    phases = Phases()
    report: dict[str, Any] = {
        "command": command(argv),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    for name in args.only:
        create_database(urls[name])
    report["machine"] = machine(urls[args.only[0]])
    report["machine"]["redis"] = Redis.from_url(redis_url).info()["redis_version"]
    if "tracking" in args.only:
        report["tracking"] = phases.run("tracking", track.run, urls["tracking"], redis_url, args)
    if "dashboard" in args.only:
        report["dashboard"] = phases.run("dashboard", dashboard.run, urls["dashboard"], args)
    if "daily" in args.only:
        report["daily"] = phases.run("daily job", daily.run, urls["daily"], redis_url, args)
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    report["phases_s"] = phases.elapsed
    report["total_s"] = phases.total()
    rows = summary_rows(report)
    print()
    print("\n".join(table(rows)))
    print(f"\ntotal {report['total_s']} s; phases {report['phases_s']}")
    if not args.no_doc:
        write_doc(report, rows)
    print(json.dumps(report, default=str))
    return report


def command(argv: list[str] | None) -> str:
    words = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python benchmarks/run.py", *words])


# --- the figures and the table ----------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def _load(pair: list[float]) -> str:
    return f"{pair[0]} → {pair[1]}"


# DESIGN.md: a lean tracking handler ~1,180 req/s where a bare Flask no-op made ~6,900.
LEAN_RATIO = 1180 / 6900


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, measured, target, met?, load) for every figure DESIGN.md sets a target for,
    plus the baseline and the daily job."""
    rows = []
    if "tracking" in report:
        r = report["tracking"]["results"]
        noop = r["noop"]
        rows.append(
            (
                "`GET /bench/noop` (baseline: same server, no work)",
                f"{_n(noop['requests_per_s'])} req/s; p50 {noop['p50_ms']} ms, "
                f"p99 {noop['p99_ms']} ms",
                "—",
                "—",
                _load(noop["load_1m"]),
            )
        )
        bare = r.get("bare_noop")
        if bare:
            rows.append(
                (
                    "bare Flask no-op (DESIGN.md's yardstick: ~6,900 req/s when it was set)",
                    f"{_n(bare['requests_per_s'])} req/s; p99 {bare['p99_ms']} ms",
                    "—",
                    "—",
                    _load(bare["load_1m"]),
                )
            )
        for name, label in (
            ("track_click", "track-click, every request a new visitor"),
            ("track_conversion", "track-conversion, every request a new visitor"),
        ):
            row = r[name]
            ratio = row["requests_per_s"] / noop["requests_per_s"]
            rows.append(
                (
                    f"{label}: throughput",
                    f"{_n(row['requests_per_s'])} req/s ({ratio:.2f} × no-op)",
                    "≥ 1,100 req/s",
                    _met(row["requests_per_s"] >= 1100),
                    _load(row["load_1m"]),
                )
            )
            if bare:
                lean = row["requests_per_s"] / bare["requests_per_s"]
                rows.append(
                    (
                        f"{label}: × the bare Flask no-op of the same run",
                        f"{lean:.2f}",
                        f"≥ {LEAN_RATIO:.2f} (DESIGN.md's lean handler: 1,180 / 6,900)",
                        _met(lean >= LEAN_RATIO),
                        _load(row["load_1m"]),
                    )
                )
            rows.append(
                (
                    f"{label}: p50 / p99",
                    f"{row['p50_ms']} / {row['p99_ms']} ms",
                    "p99 ≤ 25 ms",
                    _met(row["p99_ms"] <= 25),
                    _load(row["load_1m"]),
                )
            )
        first, again = r["track_click"], r["track_click_again"]
        change = again["requests_per_s"] / first["requests_per_s"] - 1
        rows.append(
            (
                "track-click once the tables grew (rows: "
                f"{_n(report['tracking']['rows']['referral_clicks'])} clicks at the end)",
                f"{_n(again['requests_per_s'])} req/s ({change:+.0%}); p99 {again['p99_ms']} ms",
                "flat: within 10 %",
                _met(abs(change) <= 0.10),
                _load(again["load_1m"]),
            )
        )
        hooked = r["track_conversion_webhook"]
        rows.append(
            (
                "track-conversion with a webhook each (RQ worker delivering during the load)",
                f"{_n(hooked['requests_per_s'])} req/s; p99 {hooked['p99_ms']} ms; "
                f"{_n(report['tracking']['webhooks_received'])} delivered, "
                + backlog_text(report["tracking"]["worker_backlog"]),
                "—",
                "—",
                _load(hooked["load_1m"]),
            )
        )
        differences = report["tracking"]["stats_check_differences"]
        rows.append(
            (
                "`stats rebuild --check` after the load",
                f"{differences} differences",
                "0",
                _met(differences == 0),
                "",
            )
        )
    if "dashboard" in report:
        d = report["dashboard"]
        clicks = _n(d["rows"]["referral_clicks"])
        customers = _n(d["rows"]["customers"])
        for name, label in (
            ("stats_fragment", "stats fragment (`GET /dashboard/stats`, changed)"),
            ("overview", "dashboard overview (`GET /dashboard/`)"),
        ):
            row = d["results"][name]
            rows.append(
                (
                    f"{label}, {clicks} clicks / {customers} customers: p95 server time",
                    f"{row['p95_ms']} ms (p50 {row['p50_ms']}, cpu p95 {row['cpu_p95_ms']})",
                    "p95 ≤ 20 ms",
                    _met(row["p95_ms"] <= 20),
                    _load(row["load_1m"]),
                )
            )
    if "daily" in report:
        j = report["daily"]
        first = j["first"]
        mails = j["mails"]
        rows.append(
            (
                f"daily job, {_n(j['participants'])} participants (run by the RQ worker)",
                f"{first['seconds']} s; {_n(j['rows_touched'])} rows touched; second run "
                f"{j['second']['seconds']} s",
                "— (none set)",
                "—",
                _load(first["load_1m"]),
            )
        )
        rows.append(
            (
                "the mails it queued, sent by the one RQ worker afterwards",
                f"{_n(mails['sent'])} in {mails['seconds']} s "
                f"({mails['sent'] / max(mails['seconds'], 0.1):.1f}/s); "
                f"{_n(mails['left_for_the_sweep'])} left for the sweep",
                "—",
                "—",
                "",
            )
        )
        rows.append(
            (
                "`stats rebuild --check` after the daily and monthly jobs",
                f"{j['stats_check_differences']} differences",
                "0",
                _met(j["stats_check_differences"] == 0),
                "",
            )
        )
    return rows


def backlog_text(backlog: dict[str, Any]) -> str:
    if backlog["left_in_queue"]:
        return (
            f"{_n(backlog['left_in_queue'])} jobs still queued {backlog['seconds']} s "
            "after the load"
        )
    return f"the worker's queue empty {backlog['seconds']} s after the load"


def table(rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    lines = [
        "| figure | measured | target (DESIGN.md) | met? | load, 1 min (start → end) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return lines


# --- docs/performance.md -------------------------------------------------------------------------


def machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other people's work), "
        f"Python {m['python']}, MariaDB {m['mariadb']} (buffer pool {m['buffer_pool_mb']} MB, "
        f"`innodb_flush_log_at_trx_commit={m['flush_log_at_trx_commit']}`), Redis "
        f"{m['redis']}, all on the same box. Load average (1, 5, 15 min) before: "
        f"{', '.join(map(str, report['load_before']))}; after: "
        f"{', '.join(map(str, report['load_after']))}."
    )


def summary_block(report: dict[str, Any], rows: list[tuple[str, str, str, str, str]]) -> str:
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report["phases_s"].items())
    return "\n".join(
        [
            f"`make bench` (`{report['command']}`), measured {report['measured_at']}; "
            f"the whole run took {report['total_s'] / 60:.1f} min ({phases}).",
            "",
            machine_line(report),
            "",
            *table(rows),
        ]
    )


def tracking_block(t: dict[str, Any]) -> str:
    r = t["results"]
    noop = r["noop"]["requests_per_s"]
    lines = [
        f"`gunicorn -w {t['workers']}` (sync workers), one RQ worker (`flask --app wsgi "
        f"worker`), load from {t['generator']} ({t['connections']} connections, "
        f"{t['duration_s']} s per run) on the same machine.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | vs. no-op | load, 1 min |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, label in (
        ("bare_noop", "bare Flask no-op (`benchmarks/bare_wsgi.py`, same gunicorn)"),
        ("noop", "`GET /bench/noop` (baseline)"),
        ("track_click", "`POST /api/referral/track-click`"),
        ("track_conversion", "`POST /api/referral/track-conversion`"),
        ("track_click_again", "`POST /api/referral/track-click`, tables grown"),
        ("track_conversion_webhook", "`POST /api/referral/track-conversion`, webhook each"),
    ):
        row = r.get(name)
        if row is None:
            continue
        lines.append(
            f"| {label} | {row['requests_per_s']:.0f} | {row['p50_ms']} | {row['p99_ms']} | "
            f"{row['requests_per_s'] / noop:.2f} | {_load(row['load_1m'])} |"
        )
    rows = t["rows"]
    lines += [
        "",
        f"Rows after the runs: {_n(rows['referral_clicks'])} clicks, "
        f"{_n(rows['referral_conversions'])} conversions, "
        f"{_n(rows['referral_fraud_log'])} fraud-log entries, "
        f"{_n(rows['webhook_deliveries'])} webhook deliveries "
        f"({_n(rows['webhook_deliveries_sent'])} sent). The receiver got "
        f"{_n(t['webhooks_received'])} webhooks; {backlog_text(t['worker_backlog'])} "
        f"({t['worker_backlog']['failed_jobs']} failed jobs). `stats rebuild --check` "
        f"afterwards: {t['stats_check_differences']} differences.",
    ]
    return "\n".join(lines)


def dashboard_block(d: dict[str, Any]) -> str:
    rows = d["rows"]
    g = d["generate"]
    if g.get("reused"):
        made = "data set reused from an earlier run (`--reuse`)"
    else:
        made = (
            f"generated in {g['insert_seconds']} s (`INSERT … SELECT`), `stats rebuild` "
            f"{g['rebuild_seconds']} s, `--check` {g['check_seconds']} s: "
            f"{g['rebuild_check_differences']} differences"
        )
    lines = [
        f"Data: {_n(rows['referral_clicks'])} clicks, {_n(rows['referral_conversions'])} "
        f"conversions, {_n(rows['referral_leads'])} participants, "
        f"{_n(rows['referral_daily_stats'])} daily rollup rows across "
        f"{_n(rows['customers'])} customers; {made}.",
        "",
        "| request (what the browser does) | p50 | p95 | p99 | cpu p50 | cpu p95 | load, 1 min |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("overview", "`GET /dashboard/` (the overview page)"),
        ("stats_fragment", "`GET /dashboard/stats` (the live panel, every 10 s, changed)"),
        ("stats_fragment_304", "`GET /dashboard/stats` with `If-None-Match` (unchanged → 304)"),
        ("get_stats_api", "`GET /api/referral/get-stats` (JSON)"),
        ("not_counted_fragment", "`GET /dashboard/not-counted` (loaded after the page)"),
    ):
        row = d["results"][name]
        cpu = f"{row['cpu_p50_ms']} ms | {row['cpu_p95_ms']} ms" if "cpu_p50_ms" in row else " | "
        lines.append(
            f"| {label} | {row['p50_ms']} ms | {row['p95_ms']} ms | {row['p99_ms']} ms | "
            f"{cpu} | {_load(row['load_1m'])} |"
        )
    return "\n".join(lines)


def daily_block(j: dict[str, Any]) -> str:
    g = j["generate"]
    first, second, monthly = j["first"], j["second"], j["monthly"]
    mails = j["mails"]
    return "\n".join(
        [
            f"Data: {_n(g['referral_leads'])} participants, {_n(g['referral_clicks'])} clicks, "
            f"{_n(g['referral_conversions'])} conversions, {_n(g['grants'])} reward grants "
            f"({_n(g['grants_unmailed'])} not mailed yet), "
            f"{_n(g['unconfirmed_past_retention'])} sign-ups unconfirmed past the retention "
            f"period, {_n(g['device_hashes'])} device hashes over five salt periods, "
            f"{_n(g['mails_due'])} mails due for a retry, {_n(g['rate_counters'])} fraud "
            f"counters; made in {g['seconds']} s.",
            "",
            "| run | time | what it did | load, 1 min |",
            "|---|---|---|---|",
            f"| `daily`, first | {first['seconds']} s | {_summary(first['summary'])} | "
            f"{_load(first['load_1m'])} |",
            f"| `monthly` (raw events past retention) | {monthly['seconds']} s | "
            f"{_summary(monthly['summary'])} | {_load(monthly['load_1m'])} |",
            f"| `daily`, again (idempotent) | {second['seconds']} s | "
            f"{_summary(second['summary'])} | {_load(second['load_1m'])} |",
            "",
            f"Rows the first run touched: {_n(j['rows_touched'])}. Of the mails it queued, "
            f"the worker sent {_n(mails['sent'])} in the {mails['seconds']} s after it "
            f"({mails['failed_jobs']} failed jobs); the {_n(mails['left_for_the_sweep'])} "
            "it had not got to were left pending for the sweep. `stats rebuild --check` "
            f"afterwards: {j['stats_check_differences']} differences.",
        ]
    )


def _summary(summary: dict[str, Any]) -> str:
    skip = {"ok", "job", "cutoff"}
    parts = []
    for key, value in summary.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items() if k != "differences")
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def replace_block(text: str, name: str, body: str) -> str:
    """The text between `<!-- bench:name -->` and `<!-- /bench:name -->` becomes `body`."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    block = f"{start}\n{body}\n{end}"
    if pattern.search(text):
        return pattern.sub(lambda _m: block, text, count=1)
    return text.rstrip() + f"\n\n{block}\n"


def write_doc(report: dict[str, Any], rows: list[tuple[str, str, str, str, str]]) -> None:
    text = DOC.read_text()
    text = replace_block(text, "summary", summary_block(report, rows))
    if "tracking" in report:
        text = replace_block(text, "tracking", tracking_block(report["tracking"]))
    if "dashboard" in report:
        text = replace_block(text, "dashboard", dashboard_block(report["dashboard"]))
    if "daily" in report:
        text = replace_block(text, "daily", daily_block(report["daily"]))
    DOC.write_text(text)


if __name__ == "__main__":
    main()
