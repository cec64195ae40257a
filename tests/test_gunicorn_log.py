"""The shipped gunicorn.conf.py: a real gunicorn's access log holds no client address, user
agent, referer, or secret token from the path."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_access_log_has_no_address_agent_or_token(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path}/g.sqlite3",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }
    log = tmp_path / "out.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        secret = "SeCrEtToKeN1234567890abcdef"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/hub/{secret}?x=1",
            headers={"User-Agent": "AgentSmith/1.0", "Referer": "http://ref.example/page"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(request, timeout=2)  # noqa: S310 - loopback
                break
            except urllib.error.HTTPError:
                break  # any answer will do: it was logged
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = log.read_text()
    assert '"GET"' in text  # the access line is there
    for leak in (secret, "AgentSmith", "ref.example", "127.0.0.1 -", "x=1"):
        assert leak not in text, leak
