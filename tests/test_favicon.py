"""Every page used to log a 404 for /favicon.ico: the app answers it, and both layouts link
the icon (SVG, with the ICO beside it), without a cookie on visitor pages."""

from __future__ import annotations


def test_favicon_ico_is_served_without_a_cookie(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "Set-Cookie" not in response.headers


def test_both_layouts_link_the_icon(client, customer):
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    for path in ("/login", f"/p/{customer['ref_code']}/danke"):
        page = client.get(path).get_data(as_text=True)
        assert 'rel="icon" href="/static/favicon.svg" type="image/svg+xml"' in page, path
        assert 'href="/static/favicon.ico"' in page, path
