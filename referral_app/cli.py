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
from .tracking import recount


def emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, default=str))


def fail(message: str, code: str = "error") -> None:
    click.echo(f"Error: {message}", err=True)
    emit({"ok": False, "error": code, "message": message})
    sys.exit(1)


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", required=True, help="The admin's password (at least 8 characters).")
    @click.option("--api-key", "with_key", is_flag=True, help="Also create an admin API key.")
    def create_admin(email: str, password: str, with_key: bool) -> None:
        """Create an admin login (and with --api-key an admin API key, shown once)."""

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
    @click.option("--password", required=True, help="The login's password (at least 8 characters).")
    @click.option("--company", required=True, help="The company name shown in e-mails.")
    @click.option("--api-key", "with_key", is_flag=True, help="Also create an API key.")
    def create_customer(email: str, password: str, company: str, with_key: bool) -> None:
        """Create a customer with its login and program code."""

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
