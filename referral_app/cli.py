"""The operator commands (API.md "Operator commands"). Each prints a JSON summary as its
last line of standard output; errors go to standard error with exit code 1."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.serving import run_simple

from jobs import scheduled
from jobs import worker as job_worker

from . import demo
from .accounts import users as accounts
from .core import key_rotation
from .core.errors import DomainError
from .participants import rehash
from .tracking import recount


def emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str))


def fail(message: str, code: str = "error") -> None:
    click.echo(f"Error: {message}", err=True)
    emit({"ok": False, "error": code, "message": message})
    sys.exit(1)


def read_password(password: str | None, from_stdin: bool) -> str:
    """The password from --password, one line of standard input (--password-stdin, for
    scripts: nothing in the process list or shell history), or else a hidden prompt typed
    twice."""
    if password is not None and from_stdin:
        fail("Give either --password or --password-stdin, not both.", "usage")
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: standard input is empty.", "usage")
        return line.rstrip("\r\n")
    if password is not None:
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


def password_options(func):
    func = click.option(
        "--password-stdin",
        "password_stdin",
        is_flag=True,
        help="Read the password from the first line of standard input.",
    )(func)
    return click.option(
        "--password",
        default=None,
        help="The password (at least 8 characters); without it and --password-stdin, "
        "a hidden prompt asks twice.",
    )(func)


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("email")
    @password_options
    @click.option("--api-key", "with_key", is_flag=True, help="Also create an admin API key.")
    def create_admin(
        email: str, password: str | None, password_stdin: bool, with_key: bool
    ) -> None:
        """Create an admin login (and with --api-key an admin API key, shown once)."""

        password = read_password(password, password_stdin)
        try:
            user = accounts.create_admin(email, password)
        except DomainError as exc:
            fail(exc.message, exc.code)
        payload: dict[str, Any] = {"ok": True, "user_id": user.id}
        if with_key:
            _, raw = accounts.create_api_key(user, "cli")
            payload["api_key"] = raw
        emit(payload)

    @app.cli.command("create-customer")
    @click.argument("email")
    @password_options
    @click.option("--company", required=True, help="The company name shown in e-mails.")
    @click.option("--api-key", "with_key", is_flag=True, help="Also create an API key.")
    def create_customer(
        email: str, password: str | None, password_stdin: bool, company: str, with_key: bool
    ) -> None:
        """Create a customer with its login and program code."""

        password = read_password(password, password_stdin)
        try:
            customer, user = accounts.create_customer(email, password, company)
        except DomainError as exc:
            fail(exc.message, exc.code)
        payload: dict[str, Any] = {
            "ok": True,
            "customer_id": customer.id,
            "user_id": user.id,
            "ref_code": customer.ref_code,
        }
        if with_key:
            _, raw = accounts.create_api_key(user, "cli")
            payload["api_key"] = raw
        emit(payload)

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Idempotent demo data: a demo customer with a month of events, and an admin."""

        summary = demo.seed()
        click.echo("Demo logins:")
        for login in summary["logins"]:
            click.echo(f"  {login['role']:<8} {login['email']}  /  {login['password']}")
        emit(summary)

    stats = AppGroup("stats", help="Aggregates: recompute or check them.")
    app.cli.add_command(stats)

    @stats.command("rebuild")
    @click.option("--check", is_flag=True, help="Only compare; exit 1 on any difference.")
    def stats_rebuild(check: bool) -> None:
        """Recompute every aggregate from the raw events."""

        summary = recount.rebuild(check=check)
        emit(summary)
        if check and summary["differences"]:
            sys.exit(1)

    keys_group = AppGroup("keys", help="Key rotation (docs/deployment.md).")
    app.cli.add_command(keys_group)

    @keys_group.command("reencrypt")
    def keys_reencrypt() -> None:
        """Write every encrypted value again under the newest of DATA_KEYS (exit 1 when some
        value no key decrypts: it is left as it was)."""

        summary = key_rotation.reencrypt_all()
        emit(summary)
        if not summary["ok"]:
            sys.exit(1)

    @keys_group.command("rehash")
    def keys_rehash() -> None:
        """Make every participant's e-mail and link-token hashes again under the newest of
        HASH_KEYS, keyed per program (exit 1 when some address no data key decrypts: its
        hashes are left as they were). Links mailed under an older key keep working while
        that key is listed; run it again after removing a key to retire its links."""

        summary = rehash.rehash_all()
        emit(summary)
        if not summary["ok"]:
            sys.exit(1)

    jobs_group = AppGroup("jobs", help="The scheduled jobs: run them now.")
    app.cli.add_command(jobs_group)

    @jobs_group.command("run")
    @click.argument("name", type=click.Choice(["daily", "monthly"]))
    def jobs_run(name: str) -> None:
        """Run the daily or monthly job once, now (idempotent), and print its summary."""

        emit(scheduled.JOBS[name]())

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    def serve(host: str, port: int) -> None:
        """The development server with the job schedule running beside it (`make run`):
        reward mails and the daily jobs happen without a worker. Links in mails point at
        this host and port unless PUBLIC_BASE_URL is set."""

        app = current_app._get_current_object()
        if not os.environ.get("PUBLIC_BASE_URL"):
            app.config["PUBLIC_BASE_URL"] = f"http://{host}:{port}"
        if job_worker.job_queue.inline():
            job_worker.start_schedule(app)
        run_simple(host, port, app, threaded=True)

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True, help="Work off what is due and queued, then stop.")
    @click.option(
        "--queues",
        envvar="WORKER_QUEUES",
        default="",
        metavar="NAMES",
        help="RQ queues to work, comma-separated, in priority order "
        "(mail, webhooks, default; all three when not given).",
    )
    def worker(burst: bool, queues: str) -> None:
        """Run jobs (RQ with REDIS_URL, in-process without) and keep the periodic schedule."""

        try:
            names = job_worker.parse_queues(queues)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--queues") from exc
        job_worker.run(current_app._get_current_object(), burst=burst, queues=names)
