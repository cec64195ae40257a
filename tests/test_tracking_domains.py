"""Allowed domains (issue 14, item 3): a conversion counts only from the program's own pages.

Through the real public API (JSON and pixel) with the headers a browser sets: Origin, else
Referer; subdomains, look-alikes, ports, IDN, missing headers, the server-to-server API key;
the `foreign_site` fraud-log entry and where it shows (admin log, API, CSV, the customer's
"Why wasn't this counted?"); the company form that sets the list."""

from __future__ import annotations

import csv
import io
import itertools
from html import unescape

import pytest
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import FRAUD_TYPES, Customer, FraudLogEntry
from referral_app.tracking import sites

from .conftest import api_key_for
from .support_admin import csrf_token
from .support_customer import csrf_from, login_customer
from .support_tracking import (
    FIREFOX,
    add_customer,
    add_participant,
    counters,
    event_rows,
    fraud_types,
    participant_counters,
)

pytestmark = pytest.mark.both_backends

_ips = (f"198.51.100.{n}" for n in itertools.count(1))
COMPANY = {
    "company_name": "Müller & Söhne GmbH",
    "contact_email": "hallo@mueller-soehne.example",
    "imprint": "Müller & Söhne GmbH\nHauptstraße 5\n80331 München",
}


def set_domains(app, customer_id: int, domains: list[str]) -> None:
    from referral_app.tracking.owners import forget_cached_codes

    with app.app_context():
        db.session.get(Customer, customer_id).allowed_domains = domains
        db.session.commit()
    forget_cached_codes()


def convert_from(client, ref: str, headers: dict[str, str] | None = None):
    """A conversion as the tracking script sends it, from a fresh visitor."""
    return client.post(
        "/api/referral/track-conversion",
        json={"ref": ref, "page": "https://example.de/danke"},
        headers={"User-Agent": FIREFOX, **(headers or {})},
        environ_base={"REMOTE_ADDR": next(_ips)},
    )


def pixel_from(client, ref: str, headers: dict[str, str] | None = None):
    return client.get(
        f"/api/referral/track?ref={ref}&e=conversion",
        headers={"User-Agent": FIREFOX, **(headers or {})},
        environ_base={"REMOTE_ADDR": next(_ips)},
    )


def foreign_entries(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(
            select(FraudLogEntry).where(FraudLogEntry.type == "foreign_site")
        ).all()
        return [{"event": row.event, "details": row.details} for row in rows]


@pytest.mark.parametrize(
    ("headers", "counted"),
    [
        ({"Origin": "https://example.de"}, True),
        ({"Origin": "https://www.example.de:8443"}, True),
        ({"Origin": "https://SHOP.Example.DE."}, True),
        ({"Origin": "null", "Referer": "https://www.example.de/danke?email=a@b.example"}, True),
        ({"Referer": "https://shop.example.de/danke"}, True),
        ({"Origin": "https://evil-example.de"}, False),
        ({"Origin": "https://example.de.evil.net"}, False),
        ({"Origin": "https://notexample.de"}, False),
        ({"Origin": "https://evil.net", "Referer": "https://example.de/danke"}, False),
        ({"Origin": "null"}, False),
        ({}, False),
    ],
)
def test_a_conversion_counts_only_from_an_allowed_domain_or_its_subdomains(
    app, client, customer, headers, counted
):
    set_domains(app, customer["id"], ["example.de"])
    answer = convert_from(client, customer["ref_code"], headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == ("tracked" if counted else "blocked")
    assert counters(app, customer["id"])["conversions"] == int(counted)
    # a counted one is still flagged no_prior_click here (no click came first): as before
    assert ("foreign_site" in fraud_types(app)) == (not counted)


def test_the_foreign_site_entry_names_the_host_only_and_the_answer_no_more_than_blocked(
    app, client, customer
):
    set_domains(app, customer["id"], ["example.de"])
    foreign = convert_from(
        client, customer["ref_code"], {"Referer": "https://farm.evil.net:8080/p?mail=x@y.de"}
    )
    bare_ip = convert_from(client, customer["ref_code"], {"Origin": "http://203.0.113.9"})
    no_page = convert_from(client, customer["ref_code"])
    bot = client.post(
        "/api/referral/track-conversion",
        json={"ref": customer["ref_code"]},
        headers={"User-Agent": "curl/8.5.0", "Origin": "https://example.de"},
        environ_base={"REMOTE_ADDR": next(_ips)},
    )
    # The same answer as any other blocked conversion: nothing says which rule or host.
    for answer in (foreign, bare_ip, no_page):
        assert (
            answer.get_json()
            == bot.get_json()
            == {
                "ok": True,
                "status": "blocked",
                "suspicious": False,
            }
        )
    assert foreign_entries(app) == [
        {"event": "conversion", "details": {"host": "farm.evil.net"}},
        {"event": "conversion", "details": {"rule": sites.BARE_IP}},
        {"event": "conversion", "details": {"rule": sites.NO_PAGE}},
    ]
    rows = event_rows(app, "Conversion")
    assert [(r["status"], r["reasons"]) for r in rows[:3]] == [
        ("blocked", ["foreign_site"]),
    ] * 3
    assert counters(app, customer["id"])["conversions"] == 0


def test_with_no_allowed_domains_there_is_no_check(app, client, customer):
    assert convert_from(client, customer["ref_code"]).get_json()["status"] == "tracked"
    evil = convert_from(client, customer["ref_code"], {"Origin": "https://evil.net"})
    assert evil.get_json()["status"] == "tracked"
    assert "foreign_site" not in fraud_types(app)


def test_saving_domains_takes_effect_for_the_next_conversion(app, client, customer):
    """The engine keeps a program's details cached for a few seconds: a save forgets them."""
    key = {"Authorization": f"Bearer {api_key_for(app, customer['user_id'])}"}
    evil = {"Origin": "https://evil.net"}
    assert convert_from(client, customer["ref_code"], evil).get_json()["status"] == "tracked"
    saved = client.post(
        "/api/referral/update-company",
        json={**COMPANY, "allowed_domains": ["https://www.Bücher.example/danke"]},
        headers=key,
    )
    assert saved.get_json()["company"]["allowed_domains"] == ["www.xn--bcher-kva.example"]
    assert convert_from(client, customer["ref_code"], evil).get_json()["status"] == "blocked"
    # IDN hosts compare in punycode, as browsers send them
    idn = {"Origin": "https://www.xn--bcher-kva.example"}
    assert convert_from(client, customer["ref_code"], idn).get_json()["status"] == "tracked"


def test_the_pixel_counts_by_its_referer(app, client, customer):
    set_domains(app, customer["id"], ["example.de"])
    allowed = pixel_from(client, customer["ref_code"], {"Referer": "https://www.example.de/x"})
    foreign = pixel_from(client, customer["ref_code"], {"Referer": "https://evil.net/x"})
    no_referer = pixel_from(client, customer["ref_code"])
    for answer in (allowed, foreign, no_referer):
        assert answer.status_code == 200 and answer.mimetype == "image/gif"
    assert [r["status"] for r in event_rows(app, "Conversion")] == [
        "tracked",
        "blocked",
        "blocked",
    ]
    assert [e["details"] for e in foreign_entries(app)] == [
        {"host": "evil.net"},
        {"rule": sites.NO_PAGE},
    ]


def test_the_customers_api_key_lets_a_server_report_without_a_page(app, client, customer):
    set_domains(app, customer["id"], ["example.de"])
    own = {"Authorization": f"Bearer {api_key_for(app, customer['user_id'])}"}
    other = add_customer(app, "zweite@example.com")
    foreign_key = {"Authorization": f"Bearer {api_key_for(app, other['user_id'])}"}

    assert convert_from(client, customer["ref_code"], own).get_json()["status"] == "tracked"
    # another program's key is no credential for this one: the page check runs
    assert convert_from(client, customer["ref_code"], foreign_key).get_json()["status"] == (
        "blocked"
    )
    # a wrong or revoked key says so, rather than silently not counting
    wrong = convert_from(client, customer["ref_code"], {"Authorization": "Bearer rk_nope"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "unauthorized"
    # the pixel always answers a GIF; a wrong key there is simply no key
    gif = pixel_from(client, customer["ref_code"], {"Authorization": "Bearer rk_nope"})
    assert gif.mimetype == "image/gif"
    assert [r["status"] for r in event_rows(app, "Conversion")] == [
        "tracked",
        "blocked",
        "blocked",
    ]
    # browsers may not send the key from a page: CORS allows no Authorization header
    preflight = client.options(
        "/api/referral/track-conversion",
        headers={
            "Origin": "https://example.de",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "authorization" not in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_our_hosted_pages_always_count(app, client, customer):
    set_domains(app, customer["id"], ["example.de"])
    same_origin = convert_from(client, customer["ref_code"], {"Sec-Fetch-Site": "same-origin"})
    own_host = convert_from(client, customer["ref_code"], {"Origin": "http://localhost"})
    cross = convert_from(
        client, customer["ref_code"], {"Sec-Fetch-Site": "cross-site", "Origin": "null"}
    )
    assert [a.get_json()["status"] for a in (same_origin, own_host, cross)] == [
        "tracked",
        "tracked",
        "blocked",
    ]


def test_a_foreign_conversion_earns_a_participant_nothing(app, client, customer):
    participant = add_participant(app, customer["id"])
    set_domains(app, customer["id"], ["example.de"])
    for _ in range(3):
        convert_from(client, participant["ref_code"], {"Origin": "https://farm.example"})
    assert participant_counters(app, participant["id"])["conversions"] == 0
    assert fraud_types(app) == ["foreign_site"] * 3


def test_foreign_site_shows_wherever_fraud_types_show(app, client, auth, customer, admin):
    assert "foreign_site" in FRAUD_TYPES
    set_domains(app, customer["id"], ["example.de"])
    convert_from(client, customer["ref_code"], {"Origin": "https://farm.evil.net"})

    customer_client = app.test_client()
    login_customer(customer_client, auth.__class__(customer_client), customer)
    why = customer_client.get("/dashboard/not-counted", headers={"Accept-Language": "en"})
    panel = why.get_data(as_text=True).split('id="not-counted"', 1)[1]
    assert 'data-kind="conversion" data-status="blocked"' in panel
    assert "a website that is not one of the program" in panel

    auth.login(admin["email"], admin["password"])
    page = client.get("/admin/fraud?type=foreign_site")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="foreign_site" selected' in html and "farm.evil.net" in html
    api = client.get("/api/referral/get-fraud-log?type=foreign_site").get_json()
    assert [(i["type"], i["details"]) for i in api["items"]] == [
        ("foreign_site", {"host": "farm.evil.net"})
    ]
    exported = client.get("/api/referral/export-fraud-log?type=foreign_site")
    rows = list(csv.DictReader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    assert [r["type"] for r in rows] == ["foreign_site"]
    export_page = client.get("/admin/export").get_data(as_text=True)
    assert 'value="foreign_site"' in export_page
    assert csrf_token(client, "/admin/export")


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("https://www.example.de/danke?x=1", ["www.example.de"]),
        ("example.de\nshop.example.de, EXAMPLE.de", ["example.de", "shop.example.de"]),
        ("", []),
    ],
)
def test_the_company_form_saves_allowed_domains_as_host_names(
    app, client, auth, customer, typed, saved
):
    token = login_customer(client, auth, customer)
    answer = client.post(
        "/dashboard/company",
        data={**COMPANY, "allowed_domains": typed, "csrf_token": token},
    )
    assert answer.status_code == 303
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).allowed_domains == saved
    html = client.get("/dashboard/company").get_data(as_text=True)
    assert ('id="allowed_domains-notice"' in html) == (not saved)
    for host in saved:
        assert host in html


@pytest.mark.parametrize(
    "typed",
    [
        "javascript:alert(1)",
        "example.de\nnicht gültig!",
        "192.0.2.1",
        " ".join(f"d{n}.example.de" for n in range(21)),
    ],
)
def test_the_company_form_refuses_what_is_not_a_host_name(app, client, auth, customer, typed):
    set_domains(app, customer["id"], ["example.de"])
    token = login_customer(client, auth, customer)
    answer = client.post(
        "/dashboard/company",
        data={**COMPANY, "allowed_domains": typed, "csrf_token": token},
    )
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert 'id="allowed_domains-error"' in html
    assert 'aria-invalid="true"' in html.split('id="allowed_domains"', 1)[1].split(">", 1)[0]
    # what was typed stays in the field; nothing is saved; the saved list hides the notice
    assert 'id="allowed_domains-notice"' not in html
    with app.app_context():
        assert db.session.get(Customer, customer["id"]).allowed_domains == ["example.de"]
    assert csrf_from(html)


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://www.example.de:8443/a?b", "www.example.de"),
        ("Bücher.DE.", "xn--bcher-kva.de"),
        ("straße.de", "xn--strae-oqa.de"),
        ("http://[2001:db8::1]:80/", "2001:db8::1"),
        ("example.de:443", "example.de"),
        ("null", "null"),
        ("", None),
        ("http://", None),
    ],
)
def test_hosts_are_normalised_as_browsers_send_them(value, host):
    assert sites.normalise_host(value) == host


def test_a_subdomain_match_is_by_label_never_by_characters():
    domains = ("example.de",)
    assert sites.host_allowed("example.de", domains)
    assert sites.host_allowed("a.b.example.de", domains)
    assert not sites.host_allowed("evil-example.de", domains)
    assert not sites.host_allowed("example.de.evil.net", domains)
    assert not sites.host_allowed("xample.de", domains)


def test_the_embed_page_gives_a_pixel_that_sends_its_page_and_names_the_domains(
    app, client, auth, customer
):
    login_customer(client, auth, customer)
    html = client.get("/dashboard/embed").get_data(as_text=True)
    snippet = unescape(html.split('id="snippet-pixel"', 1)[1].split(">", 1)[1].split("<", 1)[0])
    assert snippet == (
        f'<img src="http://localhost/api/referral/track?ref={customer["ref_code"]}'
        '&amp;e=conversion" width="1" height="1" alt="" '
        'referrerpolicy="strict-origin-when-cross-origin">'
    )
    assert 'class="flash flash-warning" id="embed-domains"' in html
    set_domains(app, customer["id"], ["example.de", "shop.example.org"])
    html = client.get("/dashboard/embed").get_data(as_text=True)
    assert 'id="embed-domains"' in html and "example.de, shop.example.org" in html
    assert "flash-warning" not in html
