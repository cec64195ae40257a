"""Across areas: what one part changes, another sees at once."""

from __future__ import annotations

import pytest

from .conftest import api_key_for

pytestmark = pytest.mark.both_backends  # the tracking code cache against the real database

UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


def _click(client, code, ip="198.51.100.20"):
    return client.post(
        "/api/referral/track-click",
        json={"ref": code},
        headers={"User-Agent": UA},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_switching_the_program_off_stops_tracking_at_once(app, client, customer):
    key = api_key_for(app, customer["user_id"])
    bearer = {"Authorization": f"Bearer {key}"}
    assert _click(client, customer["ref_code"]).get_json()["status"] == "tracked"
    off = client.post("/api/referral/toggle", json={"enabled": False}, headers=bearer)
    assert off.get_json() == {"ok": True, "enabled": False}
    refused = _click(client, customer["ref_code"], ip="198.51.100.21")
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "program_inactive"
    client.post("/api/referral/toggle", json={"enabled": True}, headers=bearer)
    assert _click(client, customer["ref_code"], ip="198.51.100.22").status_code == 200


def test_an_admin_suspension_stops_tracking_at_once(app, client, customer, admin):
    key = api_key_for(app, admin["id"])
    assert _click(client, customer["ref_code"]).status_code == 200
    response = client.post(
        "/api/referral/customer-program",
        json={"customer_id": customer["id"], "action": "suspend", "reason": "Betrugsverdacht"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.get_json()
    refused = _click(client, customer["ref_code"], ip="198.51.100.23")
    assert refused.status_code == 403
