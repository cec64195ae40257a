"""/metrics and the Sentry scrubber."""

from __future__ import annotations

from referral_app.core.observability import before_send


def test_metrics_answer_from_the_machine_itself(client):
    client.get("/login")
    response = client.get("/metrics")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "referral_request_seconds" in body
    assert 'endpoint="auth.login"' in body
    assert "referral_mails" in body


def test_metrics_refuse_other_hosts_without_a_token(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403


def test_metrics_accept_the_token_from_anywhere(make_app):
    app = make_app(METRICS_TOKEN="s3cret-metrics")
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=remote).status_code == 403
    ok = client.get(
        "/metrics", environ_base=remote, headers={"Authorization": "Bearer s3cret-metrics"}
    )
    assert ok.status_code == 200


def test_sentry_events_lose_every_personal_detail():
    event = {
        "user": {"ip_address": "198.51.100.7"},
        "request": {
            "url": "https://ref.example.com/x?email=anna@example.org",
            "headers": {
                "User-Agent": "Mozilla/5.0",
                "X-Forwarded-For": "198.51.100.7",
                "Accept": "text/html",
            },
            "cookies": {"session": "abc"},
            "data": {"email": "anna@example.org"},
        },
        "message": "failed for anna@example.org from 198.51.100.7",
    }
    scrubbed = before_send(event, {})
    text = repr(scrubbed)
    assert "anna@example.org" not in text
    assert "198.51.100.7" not in text
    assert "Mozilla" not in text
    assert scrubbed["request"]["headers"]["Accept"] == "text/html"
