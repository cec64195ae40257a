"""The benchmark data sets, made fast: bulk `INSERT … SELECT` from MariaDB's sequence engine
(`seq_1_to_N`), never ORM objects, with the event tables' secondary indexes dropped during
the load and built again afterwards (a sorted build instead of a million random inserts
into indexes that do not fit the buffer pool).

Both data sets are made from raw rows only; the aggregates then come from `stats rebuild`,
exactly as the operator command makes them, so `stats rebuild --check` proves them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, CursorResult

BATCH = 250_000
PASSWORD = "bench-passwort"


def sql(connection: Connection, statement: str, params: Any = None) -> CursorResult:
    """One statement (`%` needs no escaping; `:name` binds)."""
    return connection.execute(text(statement), params if params is not None else {})


def program_code(expr: str) -> str:
    """The program code of customer `expr`, as SQL (same shape as codes.program_code)."""
    return f"CONCAT('REF', LPAD({expr}, 6, '0'), 'BENCH2')"


@contextmanager
def bulk_load(connection: Connection, *tables: str) -> Iterator[None]:
    """Drop the secondary indexes of `tables` that no foreign key needs, yield, then build
    them again, all of a table's in one ALTER. Session-only settings skip the checks the
    generator's rows cannot fail."""
    sql(connection, "SET SESSION unique_checks = 0, foreign_key_checks = 0")
    saved: dict[str, list[str]] = {}
    for table in tables:
        create = sql(connection, f"SHOW CREATE TABLE `{table}`").one()[1]
        foreign = set(re.findall(r"FOREIGN KEY \(`(\w+)`\)", create))
        keys = re.findall(r"^\s*((?:UNIQUE )?KEY `(\w+)` \(`(\w+)`.*?\)),?$", create, re.M)
        drop = [(definition, name) for definition, name, first in keys if first not in foreign]
        if drop:
            sql(
                connection,
                f"ALTER TABLE `{table}` " + ", ".join(f"DROP KEY `{name}`" for _d, name in drop),
            )
        saved[table] = [definition for definition, _name in drop]
    connection.commit()
    try:
        yield
    finally:
        connection.commit()
        for table, definitions in saved.items():
            if definitions:
                sql(
                    connection,
                    f"ALTER TABLE `{table}` " + ", ".join(f"ADD {d}" for d in definitions),
                )
        sql(connection, "SET SESSION unique_checks = 1, foreign_key_checks = 1")
        connection.commit()


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for first in range(1, total + 1, BATCH):
        yield first, min(first + BATCH - 1, total)


def customers(connection: Connection, count: int, password_hash: str) -> None:
    """`count` customers with an active program and one login each (bench<id>@example.com)."""
    sql(
        connection,
        f"""INSERT INTO customers (id, company_name, contact_email, imprint, language, ref_code,
            referral_enabled, created_at, updated_at)
        SELECT seq, CONCAT('Bench GmbH ', seq), CONCAT('kunde', seq, '@example.com'),
            'Bench GmbH, Musterstraße 1, 10115 Berlin', 'de', {program_code("seq")}, 1,
            UTC_TIMESTAMP() - INTERVAL 400 DAY, UTC_TIMESTAMP()
        FROM seq_1_to_{count}""",
    )
    connection.execute(
        text(
            f"""INSERT INTO users (email, password_hash, role, customer_id, active, created_at)
            SELECT CONCAT('bench', seq, '@example.com'), :hash, 'customer', seq, 1,
                UTC_TIMESTAMP() FROM seq_1_to_{count}"""
        ),
        {"hash": password_hash},
    )
    connection.commit()


def dashboard(connection: Connection, customer_count: int, clicks: int, password_hash: str) -> None:
    """The dashboard data set: `clicks` clicks across `customer_count` customers over 60
    days (90 % counted, 7 % duplicates, 3 % blocked), a conversion for every tenth (5 % of
    them suspicious), 20 participants per customer (a quarter pending)."""
    customers(connection, customer_count, password_hash)
    conversions = clicks // 10
    with bulk_load(connection, "referral_clicks", "referral_conversions"):
        for first, last in _chunks(clicks):
            sql(
                connection,
                f"""INSERT INTO referral_clicks (customer_id, ref_code, salt_id, fingerprint,
                    ip_hash, status, reason, first_in_period, page, created_at)
                SELECT 1 + seq % {customer_count}, {program_code(f"1 + seq % {customer_count}")},
                    (seq DIV {customer_count}) % 60,
                    SHA2(seq, 256), SHA2(seq % 250000, 256),
                    CASE WHEN seq % 100 < 90 THEN 'tracked'
                         WHEN seq % 100 < 97 THEN 'duplicate' ELSE 'blocked' END,
                    CASE WHEN seq % 100 >= 97 THEN 'bot_user_agent' END,
                    CASE WHEN seq % 100 < 90 THEN 1 END,
                    'https://kunde.example/freebie',
                    UTC_TIMESTAMP() - INTERVAL ((seq DIV {customer_count}) % 60) DAY
                        - INTERVAL (seq % 86000) SECOND
                FROM seq_{first}_to_{last}""",
            )
            connection.commit()
        for first, last in _chunks(conversions):
            sql(
                connection,
                f"""INSERT INTO referral_conversions (customer_id, ref_code, salt_id,
                    fingerprint, ip_hash, status, suspicious, reasons, first_in_period, page,
                    created_at)
                SELECT 1 + seq % {customer_count}, {program_code(f"1 + seq % {customer_count}")},
                    (seq DIV {customer_count}) % 60,
                    SHA2(CONCAT('c', seq), 256), SHA2(seq % 250000, 256), 'tracked',
                    seq % 20 = 0, IF(seq % 20 = 0, '["fast_conversion"]', '[]'), 1,
                    'https://kunde.example/danke',
                    UTC_TIMESTAMP() - INTERVAL ((seq DIV {customer_count}) % 60) DAY
                        - INTERVAL (seq % 86000) SECOND
                FROM seq_{first}_to_{last}""",
            )
            connection.commit()
    participants = customer_count * 20
    sql(
        connection,
        f"""INSERT INTO referral_leads (customer_id, ref_code, email_encrypted, email_hash,
            alias_hash, status, language, consent_given_at, confirmed_at, clicks, unique_clicks,
            conversions, suspicious_conversions, created_at, updated_at)
        SELECT 1 + seq % {customer_count}, CONCAT('P', LPAD(seq, 7, '0')),
            UNHEX(SHA2(seq, 256)), SHA2(CONCAT('e', seq), 256), SHA2(CONCAT('a', seq), 256),
            IF(seq % 4 = 0, 'pending', 'confirmed'), 'de',
            UTC_TIMESTAMP() - INTERVAL ((seq DIV {customer_count}) % 60) DAY,
            IF(seq % 4 = 0, NULL,
               UTC_TIMESTAMP() - INTERVAL ((seq DIV {customer_count}) % 60) DAY
                   + INTERVAL 5 MINUTE),
            0, 0, 0, 0,
            UTC_TIMESTAMP() - INTERVAL ((seq DIV {customer_count}) % 60) DAY, UTC_TIMESTAMP()
        FROM seq_1_to_{participants}""",
    )
    connection.commit()


def daily(
    connection: Connection,
    participant_count: int,
    customer_count: int,
    password_hash: str,
    emails: list[tuple[bytes, str, str]],
    retention_days: int,
) -> None:
    """The daily job's data set: `participant_count` participants across `customer_count`
    customers, each with reward milestones at 1, 3 and 10 referrals. Participant n:

    - confirmed, except every tenth pending for 8–30 days (the daily job deletes them) and
      every twentieth pending since today (kept);
    - `n % 12` clicks and `n % 7` conversions on their code (every ninth suspicious),
      spread over the retention window and a few weeks past it;
    - a device hash in each of the last five salt periods (the job deletes the old ones).

    `emails` holds each participant's (encrypted address, address hash, alias hash), made
    by the app's own crypto so the worker can send their mails. Grants, mails and counters
    come afterwards (`stats rebuild`, then `prepare_daily`)."""
    customers(connection, customer_count, password_hash)
    sql(
        connection,
        f"""INSERT INTO referral_rewards (customer_id, threshold, tier, title, description,
            delivery, position, created_at, updated_at)
        SELECT c.seq, t.threshold, t.tier, CONCAT(t.tier, '-Paket'), 'Ein Dankeschön',
            'Per E-Mail', t.position, UTC_TIMESTAMP() - INTERVAL 400 DAY, UTC_TIMESTAMP()
        FROM seq_1_to_{customer_count} c
        CROSS JOIN (SELECT 1 threshold, 'Bronze' tier, 0 position
                    UNION ALL SELECT 3, 'Silver', 1 UNION ALL SELECT 10, 'Gold', 2) t""",
    )
    days = retention_days + 30
    rows = [
        {
            "id": n,
            "customer": 1 + n % customer_count,
            "encrypted": encrypted,
            "email_hash": email_hash,
            "alias_hash": alias_hash,
        }
        for n, (encrypted, email_hash, alias_hash) in enumerate(emails, start=1)
    ]
    for first in range(0, len(rows), 2000):
        connection.execute(
            text(
                f"""INSERT INTO referral_leads (id, customer_id, ref_code, email_encrypted,
                    email_hash, alias_hash, status, language, consent_given_at, confirmed_at,
                    clicks, unique_clicks, conversions, suspicious_conversions, created_at,
                    updated_at)
                VALUES (:id, :customer, CONCAT('P', LPAD(:id, 9, '0')), :encrypted,
                    :email_hash, :alias_hash,
                    IF(:id % 10 = 0 OR :id % 20 = 5, 'pending', 'confirmed'), 'de',
                    UTC_TIMESTAMP() - INTERVAL (IF(:id % 20 = 5, 0, 8 + :id % {days - 8})) DAY,
                    IF(:id % 10 = 0 OR :id % 20 = 5, NULL,
                       UTC_TIMESTAMP() - INTERVAL (8 + :id % {days - 8}) DAY
                           + INTERVAL 10 MINUTE),
                    0, 0, 0, 0,
                    UTC_TIMESTAMP() - INTERVAL (IF(:id % 20 = 5, 0, 8 + :id % {days - 8})) DAY,
                    UTC_TIMESTAMP())"""
            ),
            rows[first : first + 2000],
        )
    connection.commit()
    # Salts of the last five periods (days), each participant's device in every one.
    sql(
        connection,
        """INSERT INTO hash_salts (period_start, salt, created_at)
        SELECT UTC_DATE() - INTERVAL seq DAY, SHA2(CONCAT('salt', seq), 256),
            UTC_DATE() - INTERVAL seq DAY
        FROM seq_0_to_4""",
    )
    sql(
        connection,
        f"""INSERT INTO participant_devices (participant_id, salt_id, fingerprint, created_at)
        SELECT p.seq, s.id, SHA2(CONCAT('d', p.seq, '-', s.id), 256), s.created_at
        FROM seq_1_to_{participant_count} p CROSS JOIN hash_salts s""",
    )
    # Clicks and conversions on the participants' codes (their own counters come from
    # `stats rebuild`): n % 12 clicks, n % 7 conversions.
    event_day = f"(p.seq * 7 + k.seq * 13) % {days}"
    sql(
        connection,
        f"""INSERT INTO referral_clicks (customer_id, participant_id, ref_code, salt_id,
            fingerprint, ip_hash, status, reason, first_in_period, page, created_at)
        SELECT 1 + p.seq % {customer_count}, p.seq, CONCAT('P', LPAD(p.seq, 9, '0')),
            {event_day}, SHA2(CONCAT(p.seq, '-', k.seq), 256), SHA2(p.seq * 31 + k.seq, 256),
            IF(k.seq % 8 = 7, 'duplicate', 'tracked'), NULL, IF(k.seq % 8 = 7, NULL, 1),
            'https://kunde.example/freebie',
            UTC_TIMESTAMP() - INTERVAL {event_day} DAY - INTERVAL (k.seq * 977 + 700) SECOND
        FROM seq_1_to_{participant_count} p JOIN seq_0_to_11 k ON k.seq < p.seq % 12""",
    )
    sql(
        connection,
        f"""INSERT INTO referral_conversions (customer_id, participant_id, ref_code, salt_id,
            fingerprint, ip_hash, status, suspicious, reasons, seconds_since_click,
            first_in_period, page, created_at)
        SELECT 1 + p.seq % {customer_count}, p.seq, CONCAT('P', LPAD(p.seq, 9, '0')),
            {event_day}, SHA2(CONCAT(p.seq, '-', k.seq), 256), SHA2(p.seq * 31 + k.seq, 256),
            'tracked', (p.seq + k.seq) % 9 = 0,
            IF((p.seq + k.seq) % 9 = 0, '["fast_conversion"]', '[]'),
            IF((p.seq + k.seq) % 9 = 0, 2, 600), 1, 'https://kunde.example/danke',
            UTC_TIMESTAMP() - INTERVAL {event_day} DAY - INTERVAL (k.seq * 977 + 100) SECOND
        FROM seq_1_to_{participant_count} p JOIN seq_0_to_6 k ON k.seq < p.seq % 7""",
    )
    connection.commit()


def prepare_daily(
    connection: Connection, participant_count: int, unconfirmed_days: int
) -> dict[str, int]:
    """After `stats rebuild` made the counters and the full ledger: the state a day's work
    leaves for the daily job. Of the grants, every fifth is not mailed yet (the job queues
    those mails) and every fiftieth is missing (the job's ledger sync grants it again);
    every earlier grant has its sent mail. Expired fraud counters and mails due for a
    retry wait too. Returns what was set up."""
    sql(connection, "DELETE FROM referral_reward_grants WHERE id % 50 = 0")
    sql(
        connection,
        """UPDATE referral_reward_grants SET mail_sent_at = earned_at + INTERVAL 1 HOUR
        WHERE id % 5 <> 0""",
    )
    sql(
        connection,
        """INSERT INTO mail_outbox (customer_id, participant_id, kind, reward_grant_id, status,
            attempts, created_at, sent_at)
        SELECT p.customer_id, g.participant_id, 'reward', g.id, 'sent', 1, g.earned_at,
            g.mail_sent_at
        FROM referral_reward_grants g JOIN referral_leads p ON p.id = g.participant_id
        WHERE g.mail_sent_at IS NOT NULL""",
    )
    # Welcome mails whose last attempt failed and whose retry is due now.
    sql(
        connection,
        f"""INSERT INTO mail_outbox (customer_id, participant_id, kind, status, attempts,
            last_error, next_attempt_at, created_at)
        SELECT customer_id, id, 'welcome', 'pending', 1, 'SMTPServerDisconnected',
            UTC_TIMESTAMP() - INTERVAL 1 MINUTE, UTC_TIMESTAMP() - INTERVAL 1 HOUR
        FROM referral_leads WHERE status = 'confirmed' AND id % 100 = 1
            AND id <= {participant_count}""",
    )
    sql(
        connection,
        f"""INSERT INTO rate_counters (`key`, count, expires_at)
        SELECT CONCAT('bench:ip:', seq), 1 + seq % 10,
            UTC_TIMESTAMP() - INTERVAL (seq % 48) HOUR + INTERVAL 1 HOUR
        FROM seq_1_to_{participant_count * 2}""",
    )
    connection.commit()

    def count(statement: str) -> int:
        return int(sql(connection, statement).scalar() or 0)

    return {
        "grants": count("SELECT COUNT(*) FROM referral_reward_grants"),
        "grants_unmailed": count(
            "SELECT COUNT(*) FROM referral_reward_grants WHERE mail_sent_at IS NULL"
        ),
        "unconfirmed_past_retention": count(
            f"""SELECT COUNT(*) FROM referral_leads WHERE confirmed_at IS NULL
            AND created_at < UTC_TIMESTAMP() - INTERVAL {unconfirmed_days} DAY"""
        ),
        "device_hashes": count("SELECT COUNT(*) FROM participant_devices"),
        "mails_due": count("SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending'"),
        "rate_counters": count("SELECT COUNT(*) FROM rate_counters"),
    }
