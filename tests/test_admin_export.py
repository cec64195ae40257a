"""CSV exports: a round trip with tricky company names, CSV-injection neutralising, the
byte-order mark, streaming in batches (10,000 customers), and the fraud-log export."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import event, insert

from referral_app.core import csvfile
from referral_app.extensions import db
from referral_app.models import Customer, CustomerStats
from referral_app.reporting import exports as admin_export

from .conftest import sql
from .support_admin import admin_client, world  # noqa: F401

pytestmark = pytest.mark.both_backends  # keyset-batched streaming exports on each engine

TRICKY = [
    'Kaffee, Kuchen & Co. "Süß" KG',
    "Ärzte-Team Öhringen Straße",
    '=HYPERLINK("http://evil.example","klick")',
    "+49 Telefonmarketing",
    "-minus GmbH",
    "@mention Studio",
    "\tTabulator AG",
    "\rWagenrücklauf AG",
    "Zeile1\nZeile2 GmbH",
    "Normale GmbH",
]


def _rows(response) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_stats_csv_round_trips_tricky_company_names(app, admin_client, world):  # noqa: F811
    ids = {name: world.customer(name) for name in TRICKY}
    with app.app_context():  # the customer service trims names; store them exactly as given
        for name, customer_id in ids.items():
            db.session.get(Customer, customer_id).company_name = name
        db.session.commit()
    world.clicks(ids["Normale GmbH"], 4)
    world.conversions(ids["Normale GmbH"], 1)
    world.rebuild()
    response = admin_client.get("/api/referral/export-stats")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="referral-')
    assert response.get_data().startswith(b"\xef\xbb\xbf")
    rows = _rows(response)
    assert list(rows[0])[:3] == ["customer_id", "company_name", "ref_code"]
    by_id = {int(row["customer_id"]): row for row in rows}
    for name, customer_id in ids.items():
        expected = "'" + name if name[0] in "=+-@\t\r" else name
        assert by_id[customer_id]["company_name"] == expected
    normal = by_id[ids["Normale GmbH"]]
    assert (normal["clicks"], normal["conversions"], normal["conversion_rate"]) == (
        "4",
        "1",
        "25.0",
    )
    assert normal["program_active"] == "yes"
    assert normal["clicks_30d"] == "4"


def test_stats_csv_without_bom_for_scripts(admin_client, world):  # noqa: F811
    world.customer("Ohne BOM")
    data = admin_client.get("/api/referral/export-stats?bom=0").get_data()
    assert data.startswith(b"customer_id,")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
    ],
)
def test_safe_cell_neutralises_formulas_only(value, expected):
    assert csvfile.safe_cell(value) == expected


def test_stats_csv_streams_10000_customers_in_batches(app, admin_client):  # noqa: F811
    with app.app_context():
        db.session.execute(
            insert(Customer),
            [
                {"company_name": f"Firma Nr. {n} – Müller", "ref_code": f"REFBULK{n:06d}"}
                for n in range(10_000)
            ],
        )
        db.session.commit()
        first_id = db.session.scalar(db.select(db.func.min(Customer.id)))
        db.session.execute(
            insert(CustomerStats),
            [{"customer_id": first_id + n, "clicks": n} for n in range(0, 10_000, 7)],
        )
        db.session.commit()
        engine = db.engine
    statements: list[str] = []

    def remember(conn, cursor, statement, params, context, executemany):
        if "FROM customers" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        response = admin_client.get("/api/referral/export-stats")
        assert response.is_streamed
        chunks = list(response.response)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert len(chunks) == 11  # the header, then one chunk per batch of 1,000
    text = b"".join(chunks).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 10_001
    assert rows[1][1] == "Firma Nr. 0 – Müller"
    assert [int(row[0]) for row in rows[1:]] == sorted(int(row[0]) for row in rows[1:])
    batch_queries = [s for s in statements if "LIMIT" in s.upper()]
    assert len(batch_queries) == 11  # ten full batches and the empty one that ends it
    assert sql(app, "SELECT COUNT(*) FROM audit_log WHERE action = 'export.stats'")[0][0] == 1


def test_fraud_csv_export_with_filters(admin_client, world):  # noqa: F811
    shop = world.customer("=Böse GmbH")
    other = world.customer("Andere")
    world.fraud(shop, "fast_conversion", details={"seconds": 1.2, "note": "=cmd|' /C calc'!A0"})
    world.fraud(other, "bot_user_agent", n=3)
    response = admin_client.get(f"/api/referral/export-fraud-log?customer_id={shop}")
    assert response.status_code == 200
    rows = _rows(response)
    assert len(rows) == 1
    row = rows[0]
    assert row["type"] == "fast_conversion"
    assert row["company_name"] == "'=Böse GmbH"
    assert json.loads(row["details"]) == {"note": "=cmd|' /C calc'!A0", "seconds": 1.2}
    everything = _rows(admin_client.get("/api/referral/export-fraud-log"))
    assert len(everything) == 4
    bad = admin_client.get("/api/referral/export-fraud-log?type=nope")
    assert bad.status_code == 400 and bad.get_json()["error"] == "validation_failed"
    log = admin_client.get("/api/referral/get-audit-log?action=export.fraud_log").get_json()
    assert sorted(str(item["details"]["filters"]) for item in log["items"]) == sorted(
        [str({"customer_id": shop}), str({})]
    )
