"""Benchmark: track-click and track-conversion under load, against a no-op on the same server.

Not a test. The setup DESIGN.md's target is stated for: `gunicorn -w 4` with MariaDB and
Redis, the load generator on the same machine, every request a new visitor (a new
X-Forwarded-For address through TRUSTED_PROXY_COUNT=1 and a new user agent), so every request
writes. Target: >= 1,100 requests/s, p99 <= 25 ms, flat as the tables grow.

    BENCH_DATABASE_URL='mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4' \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python benchmarks/track.py [--duration 15] [--connections 8] [--no-doc]

The database's tables are dropped and made again by the migrations; the Redis db is flushed.
The baseline is `GET /bench/noop`, a route that only `benchmarks/bench_wsgi.py` (the WSGI
entry point used here) adds to the real app: the same app, middleware and hooks, no work.
Load comes from `wrk` (apt-get install wrk) with a Lua script that makes every request a new
visitor; without wrk, a bounded Python thread client is used (slower: it shares the CPUs).
Prints one JSON summary as its last line and rewrites the "Tracking" section of
docs/performance.md (unless --no-doc).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECRET = "bench-secret-key-not-for-production"

WRK_SCRIPT = r"""
local threads = 0
local n = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function request()
  n = n + 1
  local ip = string.format("10.%%d.%%d.%%d", tid %% 250, math.floor(n / 250) %% 250, n %% 250 + 1)
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 b"
      .. tid .. "-" .. n,
    ["X-Forwarded-For"] = ip,
  }
  return wrk.format("%(method)s", "%(path)s", headers, %(body)s)
end
"""


def machine(database_url: str) -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    version = subprocess.run(
        ["mariadb", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu,
        "python": platform.python_version(),
        "mariadb": version.split("Distrib ")[-1].split(",")[0] if version else "unknown",
        "database": database_url.split("@")[-1].split("?")[0],
    }


def flask(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def reset(env: dict[str, str], database_url: str, redis_url: str) -> str:
    """Fresh tables by the real migrations, a fresh Redis db, one customer with an active
    program. Returns the program code."""
    from redis import Redis
    from sqlalchemy import create_engine, inspect

    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in inspect(connection).get_table_names():
            connection.exec_driver_sql(f"DROP TABLE `{table}`")
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
    Redis.from_url(redis_url).flushdb()
    flask(env, "db", "upgrade")
    out = flask(
        env,
        "create-customer",
        "bench@example.com",
        "--password",
        "bench-passwort",
        "--company",
        "B",
    )
    code = json.loads(out.strip().splitlines()[-1])["ref_code"]
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE customers SET referral_enabled = 1")
    engine.dispose()
    return code


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "benchmarks.bench_wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/bench/noop", timeout=2) as response:
                if response.status == 200:
                    return process, base
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)


def run_wrk(base: str, method: str, path: str, body: str | None, args: argparse.Namespace) -> dict:
    script = WRK_SCRIPT % {
        "method": method,
        "path": path,
        "body": json.dumps(body) if body is not None else "nil",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(args.threads),
                "-c",
                str(args.connections),
                "-d",
                f"{args.duration}s",
                "--timeout",
                "5s",
                "--latency",
                "-s",
                handle.name,
                base + path,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def run_threads(
    base: str, method: str, path: str, body: str | None, args: argparse.Namespace
) -> dict:
    """The fallback load generator: `connections` threads for `duration` seconds."""
    import http.client

    host, port = base.split("//")[1].split(":")
    stop = time.monotonic() + args.duration
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(index: int) -> None:
        n = 0
        mine = []
        while time.monotonic() < stop:
            n += 1
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 b{index}-{n}",
                "X-Forwarded-For": f"10.{index % 250}.{(n // 250) % 250}.{n % 250 + 1}",
            }
            started = time.perf_counter()
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "requests": len(latencies),
        "non_2xx": errors[0],
        "socket_errors": None,
    }


def row_counts(database_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as connection:
        counts = {
            table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
            for table in ("referral_clicks", "referral_conversions", "referral_fraud_log")
        }
    engine.dispose()
    return counts


def stats_check(env: dict[str, str]) -> int:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "stats", "rebuild", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    ).returncode


def write_doc(summary: dict) -> None:
    m = summary["machine"]
    r = summary["results"]
    lines = [
        "## Tracking",
        "",
        "`benchmarks/track.py` (" + summary["command"] + "): `gunicorn -w "
        f"{summary['workers']}` (sync workers), MariaDB {m['mariadb']} and Redis on the same "
        f"machine as the load generator ({summary['generator']}, {summary['connections']} "
        f"connections, {summary['duration_s']} s per run). Every request is a new visitor (new "
        "X-Forwarded-For address through TRUSTED_PROXY_COUNT=1, new user agent), so every "
        "request writes: the event row, the counter upserts, the per-IP counter in Redis (and "
        "for conversions, which have no prior click here, a fraud-log row: the worst case).",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}. Measured "
        f"{summary['measured_at']}; load average (1, 5, 15 min) when the runs began: "
        f"{', '.join(str(x) for x in summary['load_before'])} (other work on the machine "
        "shares the same CPUs).",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | vs. no-op |",
        "|---|---:|---:|---:|---:|",
    ]
    noop = r["noop"]["requests_per_s"]
    for name, label in (
        ("noop", "`GET /bench/noop` (baseline)"),
        ("track_click", "`POST /api/referral/track-click`"),
        ("track_conversion", "`POST /api/referral/track-conversion`"),
        ("track_click_again", "`POST /api/referral/track-click`, tables grown"),
    ):
        if name not in r:
            continue
        row = r[name]
        ratio = f"{row['requests_per_s'] / noop:.2f}" if noop else "-"
        lines.append(
            f"| {label} | {row['requests_per_s']:.0f} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {ratio} |"
        )
    lines += [
        "",
        f"Rows after the runs: {summary['rows']}. `stats rebuild --check` afterwards: exit "
        f"{summary['stats_check_exit']}. Target (DESIGN.md): >= 1,100 requests/s, "
        "p99 <= 25 ms. " + summary["verdict"],
        "",
        "Where a click's time goes (py-spy on a worker under load): mostly waiting for MariaDB. "
        "A click is one SELECT (was this visitor counted on this code in the last 24 h, under "
        "the current or the previous salt?), one Redis script call (the per-IP day counter), "
        "one INSERT under the unique key, two counter upserts (totals, today's rollup) and the "
        "COMMIT — with `innodb_flush_log_at_trx_commit=1` an fsync (about 7 ms alone on this "
        "VM's disk). SQLAlchemy's "
        "pool adds a pre-ping and a rollback-on-return round trip per request "
        "(`pool_pre_ping`, config.py). Code lookups are cached per process for "
        "`TRACKING_CODE_CACHE_SECONDS` (5 s), statement shapes are built once, and the "
        "per-IP and per-code counters are one atomic Lua call; no COUNT over events anywhere.",
        "",
        "The no-op row is the ceiling of this setup on this machine at that moment (sync "
        "workers, a new TCP connection per request, the load generator and the database on "
        "the same two CPUs). The ratio column is the honest figure to compare between runs; "
        "the absolute numbers move with whatever else the machine is doing.",
        "",
    ]
    text = DOC.read_text() if DOC.exists() else "# Performance\n\n"
    section = "\n".join(lines)
    pattern = re.compile(r"^## Tracking\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    args = parser.parse_args()

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "production",
        "SECRET_KEY": SECRET,
        "HASH_KEY": SECRET + "-hash",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TRUSTED_PROXY_COUNT": "1",
        "RATELIMIT_ENABLED": "false",
        "MAIL_SUPPRESS_SEND": "true",
    }
    load_before = [round(x, 2) for x in os.getloadavg()]
    code = reset(env, database_url, redis_url)
    use_wrk = shutil.which("wrk") is not None
    run = run_wrk if use_wrk else run_threads
    process, base = start_server(env, args.workers)
    results: dict[str, dict] = {}
    try:
        click = json.dumps({"ref": code, "page": "https://coach.example/freebie"})
        conversion = json.dumps({"ref": code, "page": "https://coach.example/danke"})
        warm = argparse.Namespace(**{**vars(args), "duration": 3})
        run(base, "POST", "/api/referral/track-click", click, warm)
        results["noop"] = run(base, "GET", "/bench/noop", None, args)
        results["track_click"] = run(base, "POST", "/api/referral/track-click", click, args)
        results["track_conversion"] = run(
            base, "POST", "/api/referral/track-conversion", conversion, args
        )
        results["track_click_again"] = run(base, "POST", "/api/referral/track-click", click, args)
    finally:
        process.terminate()
        process.wait(timeout=30)
    click_ok = all(
        results[name]["requests_per_s"] >= 1100 and results[name]["p99_ms"] <= 25
        for name in ("track_click", "track_conversion")
    )
    summary = {
        "ok": True,
        "machine": machine(database_url),
        "command": "`.venv/bin/python benchmarks/track.py"
        + (f" --duration {args.duration}" if args.duration != 15 else "")
        + "`",
        "generator": "wrk" if use_wrk else "Python threads",
        "workers": args.workers,
        "connections": args.connections,
        "duration_s": args.duration,
        "measured_at": time.strftime("%Y-%m-%d", time.gmtime()),
        "load_before": load_before,
        "results": results,
        "rows": row_counts(database_url),
        "stats_check_exit": stats_check(env),
        "verdict": "Met on this run." if click_ok else "Not met on this run (see below).",
    }
    baseline = results["noop"]["requests_per_s"]
    for name, row in results.items():
        print(
            f"{name:18} {row['requests_per_s']:8.1f} req/s  p50 {row['p50_ms']:6.2f} ms  "
            f"p99 {row['p99_ms']:6.2f} ms  ratio {row['requests_per_s'] / baseline:.2f}"
        )
    if not args.no_doc:
        write_doc(summary)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
