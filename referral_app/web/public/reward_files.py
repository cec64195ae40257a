"""A download reward's file, behind the participant's own signed link (from the reward mail
and the hub): served by the app itself, as an attachment no cache keeps."""

from __future__ import annotations

from flask import Response

from ...extensions import limiter
from ...rewards import reward_view
from .leads import token_limit
from .pages import bp


@bp.get(f"{reward_view.DOWNLOAD_PATH}<int:grant_id>/<token>")
@limiter.limit(token_limit)  # a secret link: guesses are limited per client, as the hub's
def reward_file(grant_id: int, token: str):
    stored = reward_view.download_file(grant_id, token)
    return Response(
        stored.data,
        content_type=stored.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{stored.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
