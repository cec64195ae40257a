"""Migration 0006a keeps what existing programs had: their grants end up delivered (or
revoked, when they were), their milestones hold nothing and need no approval."""

from __future__ import annotations

import sqlite3

from flask_migrate import downgrade, upgrade

from referral_app import create_app
from referral_app.extensions import db

from .conftest import backend_config


def _insert(raw: sqlite3.Connection, table: str, **values) -> None:
    """A row with `values`, every other required column filled with a plain value."""
    for _cid, name, kind, notnull, default, _pk in raw.execute(f"PRAGMA table_info({table})"):
        if notnull and default is None and name not in values and name != "id":
            kind = kind.upper()
            number = any(word in kind for word in ("INT", "BOOL", "NUMERIC", "FLOAT"))
            values[name] = 0 if number else f"{name}-{len(values)}"
            if "DATE" in kind:
                values[name] = "2026-01-01 00:00:00"
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    raw.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values()))


def test_existing_grants_and_milestones_keep_their_behaviour(tmp_path):
    app = create_app(backend_config("sqlite", tmp_path))
    path = tmp_path / "test.sqlite3"
    with app.app_context():
        upgrade(revision="0005b")
        db.engine.dispose()
    with sqlite3.connect(path) as raw:  # rows as the old code wrote them
        _insert(raw, "customers", id=1)
        for pid in (1, 2, 3):
            _insert(
                raw,
                "referral_leads",
                id=pid,
                customer_id=1,
                ref_code=f"P{pid}",
                email_hash=f"h{pid}",
            )
        _insert(raw, "referral_rewards", id=1, customer_id=1, threshold=3, delivery="CODE-1")
        raw.executemany(
            "INSERT INTO referral_reward_grants (id, participant_id, reward_id, earned_at,"
            " mail_sent_at, revoked_at) VALUES (?, ?, 1, '2026-01-02 10:00:00', ?, ?)",
            [
                (1, 1, "2026-01-03 08:00:00", None),  # mailed
                (2, 2, None, None),  # earned, mail still to go
                (3, 3, None, "2026-01-04 09:00:00"),  # taken back
            ],
        )
    with app.app_context():
        upgrade()
        db.engine.dispose()
    with sqlite3.connect(path) as raw:
        grants = raw.execute(
            "SELECT id, status, due_at, delivered_at, reason_code FROM referral_reward_grants"
            " ORDER BY id"
        ).fetchall()
        reward = raw.execute(
            "SELECT kind, hold_days, manual_approval FROM referral_rewards"
        ).fetchone()
    assert [(g[0], g[1], g[4]) for g in grants] == [
        (1, "delivered", None),
        (2, "delivered", None),  # the daily job mails it, as before
        (3, "revoked", "clawback"),
    ]
    assert grants[0][3].startswith("2026-01-03") and grants[1][3].startswith("2026-01-02")
    assert all(g[2].startswith("2026-01-02") for g in grants)
    assert reward == ("text", 0, 0)

    with app.app_context():  # and back: the grants survive the downgrade too
        downgrade(revision="0005b")
        db.engine.dispose()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM referral_reward_grants").fetchone() == (3,)
