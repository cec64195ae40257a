"""Domain errors: a machine code (API.md's snake_case), a human message and an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, str] | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.fields = fields
        self.extra = extra or {}  # further keys of the JSON answer (`missing`: […])

    def to_dict(self) -> dict:
        body = {"ok": False, "error": self.code, "message": self.message, **self.extra}
        if self.fields:
            body["fields"] = self.fields
        return body


class ValidationFailed(DomainError):
    code = "validation_failed"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
