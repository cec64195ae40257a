"""The participant's hub and the pages linked from e-mails (unsubscribe, delete my data).

Every route here is reached by a secret link, so each is rate-limited per IP (a guesser gets
few tries at 192-bit tokens) and answers with no-store, no-referrer and noindex headers. The
pages speak the participant's language (the one of their mails) and set no cookie.
"""

from __future__ import annotations

from flask import request

from ...accounts import branding
from ...extensions import client_ip, csrf, limiter
from ...participants import erasure
from ...participants import hub as participant_hub
from .cookieless import speak
from .leads import secret_page, token_limit
from .pages import bp


@bp.get("/hub/<token>")
@limiter.limit(token_limit)
def hub(token: str):
    speak(participant_hub.participant_by_hub_token(token).language)
    view = participant_hub.hub(token, client_ip(), request.headers.get("User-Agent", ""))
    return secret_page("public/hub.html", hub=view, brand=branding.brand(view.customer))


@bp.get("/hub/<token>/delete")
@limiter.limit(token_limit)
def hub_delete_confirm(token: str):
    """The confirmation step before 'delete my data' (works without JavaScript)."""
    participant = participant_hub.participant_by_hub_token(token)
    speak(participant.language)
    return secret_page(
        "public/delete.html",
        token=token,
        participant=participant,
        brand=branding.brand_of(participant.customer_id),
    )


@bp.post("/hub/<token>/delete")
@limiter.limit(token_limit)
@csrf.exempt  # no session to hold a CSRF token: the secret hub link is the key (and
# `pages.refuse_cross_site_forms` turns away posts from other sites)
def hub_delete(token: str):
    participant = participant_hub.participant_by_hub_token(token)
    speak(participant.language)
    brand = branding.brand_of(participant.customer_id)
    erasure.erase_by_hub_token(token)
    return secret_page("public/deleted.html", brand=brand)


@bp.get("/unsubscribe/<int:participant_id>/<token>")
@limiter.limit(token_limit)
def unsubscribe_page(participant_id: int, token: str):
    participant = erasure.participant_for_unsubscribe(participant_id, token)
    speak(participant.language)
    return secret_page(
        "public/unsubscribe.html",
        participant=participant,
        participant_id=participant_id,
        token=token,
        brand=branding.brand_of(participant.customer_id),
    )


@bp.post("/unsubscribe/<int:participant_id>/<token>")
@limiter.limit(token_limit)
@csrf.exempt  # RFC 8058 one-click POSTs come from mail providers: the signed link is the key
def unsubscribe(participant_id: int, token: str):
    participant = erasure.participant_for_unsubscribe(participant_id, token)
    speak(participant.language)
    brand = branding.brand_of(participant.customer_id)
    if request.form.get("action") == "delete":
        erasure.erase_by_unsubscribe_token(participant_id, token)
        return secret_page("public/deleted.html", brand=brand)
    erasure.unsubscribe(participant_id, token)
    return secret_page("public/unsubscribed.html", brand=brand)
