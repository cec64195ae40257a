"""The OpenAPI table's entries for reward fulfilment: a reward's code bank and the grants
(the approval queue). `openapi.py` joins them to `openapi_routes.ROUTES`."""

from __future__ import annotations

from .openapi_routes import CUSTOMER, FORM_NOTE, P, Route
from .schemas import queries, requests, responses

REWARD_ROUTES: list[Route] = [
    Route(
        "POST",
        f"{P}/rewards/{{reward_id}}/codes",
        "Add single-use codes to a code reward's bank",
        CUSTOMER,
        body=requests.RewardCodes,
        answer=responses.CodesAdded,
        errors={400: "validation_failed / not_a_code_reward", 404: "not_found"},
        description="Codes already in the bank are ignored (`added` counts the new ones); "
        "`available` is what is left to hand out. Each delivered grant takes exactly one "
        "code, never one another grant took.",
    ),
    Route(
        "GET",
        f"{P}/reward-grants",
        "The rewards participants earned, oldest first (cursor pagination)",
        CUSTOMER,
        query=queries.GrantQuery,
        answer=responses.GrantPage,
        errors={400: "invalid_status / invalid_cursor / invalid_limit"},
        description="`pending`: on hold until `due_at` (or waiting for approval); "
        "`approved`: delivered when the hold ends; `delivered`: released to the participant "
        "(with the `code` of a code reward); `revoked`: taken back, `reason` says why.",
    ),
    Route(
        "POST",
        f"{P}/reward-grants/{{grant_id}}/approve",
        "Approve a pending reward (delivered at once when its hold is over)",
        CUSTOMER,
        answer=responses.GrantStatusAnswer,
        errors={404: "not_found", 409: "invalid_state (it was taken back)"},
    ),
    Route(
        "POST",
        f"{P}/reward-grants/{{grant_id}}/reject",
        "Reject a pending or approved reward; the participant sees the reason",
        CUSTOMER,
        body=requests.GrantDecision,
        answer=responses.GrantStatusAnswer,
        errors={
            400: "validation_failed (a reason is required)",
            404: "not_found",
            409: "invalid_state (already delivered)",
        },
        description=FORM_NOTE,
    ),
]
