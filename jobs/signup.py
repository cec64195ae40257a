"""Sign-up jobs: process a register-lead request after its answer; sweep the ones left
behind (participants/intake.py)."""

from __future__ import annotations

from typing import Any

from referral_app.core.queue import enqueue
from referral_app.models import utcnow
from referral_app.participants import intake, signup


def process(intake_id: int) -> str | None:
    """Do sign-up `intake_id` (idempotent: a claimed or processed row is left alone)."""
    return signup.process(intake_id)


def sweep() -> dict[str, Any]:
    """Every intake row whose job was lost gets one again (the worker runs this every
    minute)."""
    left = intake.left_behind(utcnow())
    for intake_id in left:
        enqueue(process, intake_id)
    return {"signups_left_behind": len(left)}
