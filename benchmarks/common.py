"""What the benchmarks share: the bench app and its environment, databases, processes, the
machine's description, timings."""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-not-for-production"
DEFAULT_DATABASE_URL = "mysql+pymysql://root@127.0.0.1:3306/referral_bench?charset=utf8mb4"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def database_url(base: str, suffix: str = "") -> str:
    """`base` with `suffix` appended to its database name (one database per data set)."""
    url = make_url(base)
    return url.set(database=f"{url.database}{suffix}").render_as_string(hide_password=False)


def create_database(url: str) -> None:
    name = make_url(url).database
    engine = create_engine(make_url(url).set(database=""))
    with engine.connect() as connection:
        connection.exec_driver_sql(
            f"CREATE DATABASE IF NOT EXISTS `{name}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    engine.dispose()


def app_config(url: str, redis_url: str | None) -> dict[str, Any]:
    """The in-process app's configuration: the same keys as `server_env` gives the servers."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": SECRET,
        "HASH_KEY": SECRET + "-hash",
        "DATA_KEY": SECRET + "-data",
        "REDIS_URL": redis_url,
        "JOBS_INLINE": redis_url is None,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_BASE_URL": "http://localhost",
        "MAIL_SUPPRESS_SEND": True,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "TRUSTED_PROXY_COUNT": 1,
    }


def make_app(url: str, redis_url: str | None = None):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from referral_app import create_app

    return create_app(app_config(url, redis_url))


def server_env(url: str, redis_url: str) -> dict[str, str]:
    """The environment of gunicorn and the RQ worker: production settings, Redis for limits
    and jobs (so JOBS_INLINE is off), rate limits off (every request is a new visitor from
    a made-up address), mails suppressed, webhooks to loopback allowed."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "production",
        "SECRET_KEY": SECRET,
        "HASH_KEY": SECRET + "-hash",
        "DATA_KEY": SECRET + "-data",
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "TRUSTED_PROXY_COUNT": "1",
        "RATELIMIT_ENABLED": "false",
        "MAIL_SUPPRESS_SEND": "true",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "PUBLIC_BASE_URL": "http://localhost",
    }


def reset_schema(app) -> None:
    """Every table dropped, then made again by the real migrations."""
    from flask_migrate import upgrade

    from referral_app.extensions import db

    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            for (table,) in connection.exec_driver_sql("SHOW TABLES").all():
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS `{table}`")
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
        db.session.remove()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], ready: Callable[[], bool], name: str):
    """Start a process (its output goes to a log file in the temp directory) and wait up to
    60 s until `ready()` is true."""
    log_path = Path(tempfile.gettempdir()) / f"bench-{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start (exit {process.returncode}):\n{tail}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (gunicorn and RQ finish what they are doing), SIGKILL after `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load() -> float:
    """The 1-minute load average: recorded with every figure (the box is shared)."""
    return round(os.getloadavg()[0], 2)


def machine(url: str) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    engine = create_engine(url)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        pool = connection.exec_driver_sql("SELECT @@innodb_buffer_pool_size").scalar()
        flush = connection.exec_driver_sql("SELECT @@innodb_flush_log_at_trx_commit").scalar()
    engine.dispose()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "mariadb": version,
        "buffer_pool_mb": int(pool) // 2**20,
        "flush_log_at_trx_commit": int(flush),
    }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Phases:
    """Elapsed time per phase, printed as each one ends."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.elapsed: dict[str, float] = {}

    def run(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        print(f"[bench] {name} …", flush=True)
        try:
            return func(*args, **kwargs)
        finally:
            self.elapsed[name] = round(time.monotonic() - started, 1)
            print(
                f"[bench] {name}: {self.elapsed[name]} s (total {self.total()} s, load {load()})",
                flush=True,
            )

    def total(self) -> float:
        return round(time.monotonic() - self.started, 1)
