"""A bare Flask app with one no-op route: DESIGN.md's yardstick ("a bare Flask no-op ~6,900
req/s; a lean handler doing only the necessary work ~1,180 req/s" on this machine, so a
tracking endpoint at 1,180 / 6,900 = 0.17 × the bare no-op is as lean as it gets). Measured in
the same run as the tracking endpoints, it turns the absolute target into one that holds on
a machine of any speed or load. Never used in production."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bench/noop")
def noop():
    return jsonify({"ok": True})
