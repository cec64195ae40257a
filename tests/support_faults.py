"""Real services the job fault tests break: an SMTP server that holds a message mid-send,
`flask --app wsgi worker` processes that a test may SIGKILL, and a private redis-server that
a test may kill outright (never the shared one on 6379)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from .support_mail import SmtpServer, _Handler
from .support_services import PrivateRedis

ROOT = Path(__file__).resolve().parent.parent
HELD_MARK = "test:held-after-commit"


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `condition` until it returns something true; fail after `timeout` seconds (a
    bound for a hung test, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.1)


def kill_redis(server: PrivateRedis) -> None:
    """SIGKILL: no shutdown, no save; with `--save ""` everything queued in it is gone."""
    if server.process is not None:
        server.process.kill()
        server.process.wait(timeout=10)
        server.process = None


# --- an SMTP server that holds a message -------------------------------------------------------


class _HoldingHandler(_Handler):
    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook
        holder: HoldingSmtpServer = self.server
        if not holder.holding.is_set():
            return await super().handle_DATA(server, session, envelope)
        with holder.lock:
            holder.held += 1
        while not holder.released.is_set():
            await asyncio.sleep(0.05)
        # Never accepted: the sender saw no "250", so the message is not delivered.
        return "451 4.3.0 Try again later"


class HoldingSmtpServer(SmtpServer):
    """After `hold()`, every message's DATA is held without an answer (the sending worker is
    mid-send) until `release()`, and then refused with a 451: a held message is never
    delivered. `held` counts the messages held so far."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.released = threading.Event()
        self.held = 0

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(
                _HoldingHandler(self), hostname="127.0.0.1", port=self.port
            )
            self._controller.start()

    def hold(self) -> None:
        self.released.clear()
        self.holding.set()

    def release(self) -> None:
        self.holding.clear()
        self.released.set()

    def stop(self) -> None:
        self.release()
        super().stop()


@pytest.fixture
def holding_smtp() -> Iterator[HoldingSmtpServer]:
    server = HoldingSmtpServer()
    server.start()
    yield server
    server.stop()


# --- worker processes --------------------------------------------------------------------------


def worker_env(app, **extra: str) -> dict[str, str]:
    """`flask --app wsgi worker` on the test app's database, Redis, queue and SMTP server,
    configured through the environment as an operator would."""
    config = app.config
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV": "development",
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": config["REDIS_URL"],
        "RQ_QUEUE": config["RQ_QUEUE"],
        "SECRET_KEY": config["SECRET_KEY"],
        "HASH_KEY": config["HASH_KEY"],
        "PUBLIC_BASE_URL": config["PUBLIC_BASE_URL"],
        "MAIL_SERVER": config["MAIL_SERVER"],
        "MAIL_PORT": str(config["MAIL_PORT"]),
        "MAIL_DEFAULT_SENDER": config["MAIL_DEFAULT_SENDER"],
        "MAIL_SUPPRESS_SEND": "false",
        "RATELIMIT_ENABLED": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found += [int(n) for n in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def process_tree(pid: int) -> list[int]:
    """`pid` and every descendant (an RQ work horse runs in a process group of its own, so
    killing the worker's group would miss it)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def _kill_workers(pids: list[int]) -> None:
    """SIGKILL each pid that is still one of our worker processes (never a reused pid)."""
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ours = b"\0wsgi\0worker" in cmdline or cmdline.startswith(b"rq:")  # RQ may retitle
        if ours and alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class Workers:
    """Starts worker processes; `kill` is a SIGKILL of a worker and its work horse at once
    (a host or container dying); every process still running is stopped at the end."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.started: list[subprocess.Popen] = []

    def start(self, app, **env: str) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
                cwd=ROOT,
                env=worker_env(app, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        tree = process_tree(process.pid)
        _kill_workers(tree)
        process.wait(timeout=10)
        for pid in tree[1:]:  # the horse's parent is gone: it is reaped by someone else
            wait_until(lambda pid=pid: not alive(pid), f"process {pid} gone")

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is not None:
                continue
            tree = process_tree(process.pid)
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            _kill_workers(tree)  # what did not stop by itself (a held work horse)
            process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    started = Workers(tmp_path / "worker.log")
    yield started
    started.stop_all()


def hold_after_commit(job, connection, result, *args, **kwargs) -> None:
    """An RQ success callback: it runs in the work horse after the job returned (the mail is
    sent and committed) and before RQ marks the job finished. It marks that point in Redis
    and waits there for the test to kill the worker — once: a run after that passes."""
    if connection.set(HELD_MARK, job.id, nx=True):
        time.sleep(600)
