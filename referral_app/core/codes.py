"""Referral codes: the seed's program format and short participant codes."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L: nothing a person can misread when typing a code from a flyer.
UNAMBIGUOUS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PROGRAM_RANDOM_LENGTH = 6
PARTICIPANT_CODE_LENGTH = 8


def program_code(customer_id: int) -> str:
    """`REF000045ABC123`: REF, the zero-padded customer id, and a random part that makes the
    code unguessable (31^6 ≈ 8.9e8 per id)."""
    tail = "".join(secrets.choice(UNAMBIGUOUS) for _ in range(PROGRAM_RANDOM_LENGTH))
    return f"REF{customer_id:06d}{tail}"


def participant_code() -> str:
    """Eight unambiguous characters (31^8 ≈ 8.5e11); uniqueness is the database's job."""
    return "".join(secrets.choice(UNAMBIGUOUS) for _ in range(PARTICIPANT_CODE_LENGTH))


def looks_like_program_code(code: str) -> bool:
    return code.startswith("REF") and len(code) == 3 + 6 + PROGRAM_RANDOM_LENGTH
