"""Tracking under load: track-click and track-conversion against a no-op on the same server.

The setup DESIGN.md's target is stated for: gunicorn (2 sync workers per core: 4 on this
2-core machine) with MariaDB and Redis, an RQ worker (`flask --app wsgi worker`) running the
jobs the requests enqueue, the load generator on the same machine, every request a new
visitor (a new X-Forwarded-For address through TRUSTED_PROXY_COUNT=1 and a new user agent),
so every request writes. Target: >= 1,100 requests/s, p99 <= 25 ms, flat as the tables grow.

The baseline is `GET /bench/noop`, a route that only `benchmarks/bench_wsgi.py` (the WSGI
entry point used here) adds to the real app: the same app, middleware and hooks, no work.
A last run sends conversions to a second program with a webhook endpoint subscribed to
`conversion` (a receiver on loopback), so every counted conversion also writes a delivery
row and enqueues a job that the RQ worker runs during the load.

Load comes from `wrk` (apt-get install wrk) with a Lua script that makes every request a new
visitor; without wrk, a bounded Python thread client is used (slower: it shares the CPUs).
Run through `benchmarks/run.py`.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

from redis import Redis
from sqlalchemy import func, select

from benchmarks.common import free_port, load, make_app, reset_schema, server_env, start, stop
from referral_app.core.queue import QUEUES, redis_name

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


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on loopback that answers 204 and counts what it got."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received = 0
        lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receiver.received += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hook"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def prepare(app, receiver_url: str) -> tuple[str, str]:
    """Two programs: a plain one, and one whose webhook endpoint wants every conversion.
    Returns their codes."""
    from referral_app.accounts import users as accounts
    from referral_app.extensions import db
    from referral_app.models import Customer
    from referral_app.webhooks import endpoints

    with app.app_context():
        plain, _user = accounts.create_customer("bench@example.com", "bench-passwort", "B")
        hooked, _user = accounts.create_customer("hook@example.com", "bench-passwort", "H")
        endpoints.create_endpoint(hooked.id, receiver_url, ["conversion"])
        db.session.execute(Customer.__table__.update().values(referral_enabled=True))
        db.session.commit()
        codes = plain.ref_code, hooked.ref_code
        db.session.remove()
    return codes


def start_server(
    env: dict[str, str], workers: int, wsgi: str = "benchmarks.bench_wsgi:app"
) -> tuple[Any, str]:
    base = f"http://127.0.0.1:{free_port()}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(base + "/bench/noop", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", base[7:]]
    args += ["--backlog", "2048", wsgi]
    return start(args, env, ready, "gunicorn"), base


def start_worker(env: dict[str, str], redis: Redis) -> Any:
    """`flask --app wsgi worker`: the RQ worker with its scheduler, as operators run it."""
    from rq import Worker

    args = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
    return start(args, env, lambda: bool(Worker.all(connection=redis)), "worker")


def drain(redis: Redis, queue_name: str, timeout: float) -> dict[str, Any]:
    """Wait until the worker has run every queued job of every queue (`mail`, `webhooks`,
    `default` under the base name `queue_name`), or `timeout` passed."""
    from rq import Queue
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    queues = [Queue(redis_name(queue_name, name), connection=redis) for name in QUEUES]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(q.count == 0 and StartedJobRegistry(queue=q).count == 0 for q in queues):
            break
        time.sleep(0.5)
    return {
        "seconds": round(time.monotonic() - started, 1),
        "left_in_queue": sum(q.count for q in queues),
        "failed_jobs": sum(FailedJobRegistry(queue=q).count for q in queues),
    }


def row_counts(app) -> dict[str, int]:
    from referral_app.extensions import db
    from referral_app.models import Click, Conversion, FraudLogEntry, WebhookDelivery

    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Click, Conversion, FraudLogEntry, WebhookDelivery)
        }
        counts["webhook_deliveries_sent"] = db.session.scalar(
            select(func.count()).where(WebhookDelivery.status == "sent")
        )
        db.session.remove()
    return counts


def stats_check(app) -> int:
    """`stats rebuild --check`: the number of differences (0 is right)."""
    from referral_app.extensions import db
    from referral_app.tracking import recount

    with app.app_context():
        result = recount.rebuild(check=True)
        db.session.remove()
    return int(result["differences"])


def run(url: str, redis_url: str, settings: argparse.Namespace) -> dict[str, Any]:
    """Fresh tables, gunicorn + an RQ worker, the runs; then the worker's backlog and
    `stats rebuild --check`."""
    app = make_app(url)
    reset_schema(app)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    receiver = Receiver()
    plain, hooked = prepare(app, receiver.url)
    env = server_env(url, redis_url)
    use_wrk = shutil.which("wrk") is not None
    generate = run_wrk if use_wrk else run_threads
    results: dict[str, dict[str, Any]] = {}
    # DESIGN.md's yardstick first, alone on the machine: a bare Flask no-op, same gunicorn.
    bare, bare_base = start_server(env, settings.workers, "benchmarks.bare_wsgi:app")
    try:
        before = load()
        results["bare_noop"] = generate(bare_base, "GET", "/bench/noop", None, settings)
        results["bare_noop"]["load_1m"] = [before, load()]
        print(f"[bench]   bare_noop: {results['bare_noop']}", flush=True)
    finally:
        stop(bare)
    server, base = start_server(env, settings.workers)
    worker = None
    try:
        worker = start_worker(env, redis)
        click = json.dumps({"ref": plain, "page": "https://coach.example/freebie"})
        conversion = json.dumps({"ref": plain, "page": "https://coach.example/danke"})
        hooked_conversion = json.dumps({"ref": hooked, "page": "https://coach.example/danke"})
        warm = argparse.Namespace(**{**vars(settings), "duration": min(3, settings.duration)})
        generate(base, "POST", "/api/referral/track-click", click, warm)
        runs = (
            ("noop", "GET", "/bench/noop", None),
            ("track_click", "POST", "/api/referral/track-click", click),
            ("track_conversion", "POST", "/api/referral/track-conversion", conversion),
            ("track_click_again", "POST", "/api/referral/track-click", click),
            (
                "track_conversion_webhook",
                "POST",
                "/api/referral/track-conversion",
                hooked_conversion,
            ),
        )
        for name, method, path, body in runs:
            before = load()
            results[name] = generate(base, method, path, body, settings)
            results[name]["load_1m"] = [before, load()]
            print(f"[bench]   {name}: {results[name]}", flush=True)
        backlog = drain(redis, env.get("RQ_QUEUE", "referral"), settings.drain_timeout)
    finally:
        stop(server)
        if worker is not None:
            stop(worker)
        receiver.shutdown()
    return {
        "generator": "wrk" if use_wrk else "Python threads",
        "workers": settings.workers,
        "connections": settings.connections,
        "duration_s": settings.duration,
        "results": results,
        "worker_backlog": backlog,
        "webhooks_received": receiver.received,
        "rows": row_counts(app),
        "stats_check_differences": stats_check(app),
    }
