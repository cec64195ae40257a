"""Referral codes: the seed's program format and short participant codes."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/L: nothing a person can misread when typing a code from a flyer.
UNAMBIGUOUS = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PROGRAM_RANDOM_LENGTH = 12
PARTICIPANT_CODE_LENGTH = 8


def program_code() -> str:
    """`REF` and twelve random unambiguous characters (31^12 ≈ 7.9e17): the seed's length,
    but nothing in it tells how many customers there are or which one came when (the seed
    put the sequential customer id in it)."""
    return "REF" + "".join(secrets.choice(UNAMBIGUOUS) for _ in range(PROGRAM_RANDOM_LENGTH))


def participant_code() -> str:
    """Eight unambiguous characters (31^8 ≈ 8.5e11); uniqueness is the database's job."""
    return "".join(secrets.choice(UNAMBIGUOUS) for _ in range(PARTICIPANT_CODE_LENGTH))


def looks_like_program_code(code: str) -> bool:
    return code.startswith("REF") and len(code) == 3 + PROGRAM_RANDOM_LENGTH
