"""The WSGI entry point of benchmarks/track.py: the real app plus `GET /bench/noop`, the
baseline (same app, same hooks and middleware, no work). Never used in production."""

from __future__ import annotations

from flask import jsonify

from referral_app import create_app

app = create_app()


def noop():
    return jsonify({"ok": True})


app.add_url_rule("/bench/noop", "bench_noop", noop)
