"""How the JSON API reads a request: one body parser, one date parser for query strings, and
pydantic's errors turned into the API's own answers (API.md).

A request model declares its fields once (types, limits, choices); the OpenAPI document
comes from the same model. When validation fails the answer is today's:
`validation_failed` with a message per field, or an endpoint's own code (`invalid_ref`,
`invalid_email` …) for the fields that have one. Messages are the app's own, translated
(pydantic's English never reaches a user), and never carry a field name.
"""

from __future__ import annotations

import json
import math
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

from flask import request
from flask_babel import gettext as _
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema

from ...core.errors import DomainError, ValidationFailed
from ...core.formats import EARLIEST, LATEST, parse_date

JSON_TYPES = ("application/json",)
BEACON_TYPES = ("text/plain",)  # sendBeacon's JSON (the tracking script's fallback)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# Query dates outside these years are refused (400) before any date arithmetic can overflow.

# A field's message: a string, or made from pydantic's error context (its limits).
Message = str | Callable[[dict[str, Any]], str]
M = TypeVar("M", bound="RequestModel")


class RequestModel(BaseModel):
    """A request body or query string. Unknown keys are ignored, as they always were."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    # field → the endpoint's own error code: that field's error is the whole answer (API.md)
    codes: ClassVar[dict[str, str]] = {}
    # field → its message, whatever was wrong (else one by kind of error, see `_message`)
    messages: ClassVar[dict[str, Message]] = {}
    # the answer's code and message when fields are wrong
    error_code: ClassVar[str] = "validation_failed"
    summary: ClassVar[Message | None] = None
    # the domain's own check (values → (clean, field → message)); when the model refuses a
    # body, the domain's messages join in, so a form still learns every problem at once
    domain_check: ClassVar[Callable[[dict[str, Any]], tuple[Any, dict[str, str]]] | None] = None


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 is infinity too
        raise ValueError(text)
    return value


def loads(raw: bytes | str) -> Any:
    """JSON as RFC 8259 has it: no NaN, Infinity or numbers beyond a float."""
    return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)


def _list_fields(model: type[RequestModel]) -> set[str]:
    """Fields a form may repeat (`events=click&events=lead`)."""
    found = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        candidates = (
            get_args(annotation)
            if get_origin(annotation) in (Union, types.UnionType)
            else (annotation,)
        )
        if any(get_origin(c) is list or c is list for c in candidates):
            found.add(field.alias or name)
    return found


def read_body(model: type[RequestModel] | None = None, *, public: bool = False) -> dict[str, Any]:
    """The body as a dict: JSON or a form (API.md: both are accepted).

    `public`: the tracking API, which also takes JSON sent as text/plain (sendBeacon) and
    answers 415 for any other type; the signed-in APIs read other types as an empty form.
    Malformed JSON, NaN/Infinity and anything but an object are 400 `invalid_json`."""
    mimetype = request.mimetype
    if (
        mimetype in JSON_TYPES
        or mimetype.endswith("+json")
        or (public and mimetype in BEACON_TYPES)
    ):
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            data = loads(raw)
        except (ValueError, RecursionError):
            raise DomainError(
                _("The request body is not valid JSON."), code="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise DomainError(_("The request body must be a JSON object."), code="invalid_json")
        return data
    if mimetype in FORM_TYPES:
        data = request.form.to_dict()
        for name in _list_fields(model) if model else ():
            if name in request.form:
                data[name] = request.form.getlist(name)
        return data
    if public and (mimetype or request.get_data(cache=True)):
        raise DomainError(_("Send JSON or a form."), code="unsupported_media_type", status=415)
    return {}


def parse_body(model: type[M], *, public: bool = False) -> M:
    """The body, read and validated by `model` (raises the API's 4xx answer)."""
    return validate(model, read_body(model, public=public))


def check_query(model: type[RequestModel], *names: str) -> None:
    """Check these query parameters against `model`; the others are the domain's to check,
    with its own codes (`invalid_limit`, `invalid_cursor`)."""
    check_fields(model, request.args.to_dict(), *names)


def check_fields(model: type[RequestModel], data: Mapping[str, Any], *names: str) -> None:
    """Check only these fields of `data` against `model` (raises the API's 4xx answer). An
    empty field (a filter form left blank) counts as not given."""
    data = {key: value for key, value in data.items() if value != ""}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        if any(error["loc"] and error["loc"][0] in names for error in exc.errors()):
            raise refusal(model, exc, data, only=names) from None


def validate(model: type[M], data: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise refusal(model, exc, data) from None


def _message(model: type[RequestModel], name: str, error: Any) -> str:
    ctx = dict(error.get("ctx") or {})
    own = model.messages.get(name)
    if own is not None:
        return own(ctx) if callable(own) else str(own)
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return _("This field is required.")
    if kind == "string_type":
        return _("Please enter text.")
    if kind == "string_too_long":
        return _("At most %(n)d characters.", n=ctx["max_length"])
    if kind in ("bool_type", "bool_parsing"):
        return _("Send true or false.")
    if kind == "too_long":
        return _("At most %(n)s entries at once.", n=ctx["max_length"])
    if kind == "too_short":
        return _("Choose at least one entry.")
    return _("invalid")


def refusal(
    model: type[RequestModel],
    exc: ValidationError,
    data: Mapping[str, Any],
    only: tuple[str, ...] = (),
) -> DomainError:
    """The API's answer to a body or query the model refused."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        name = str(error["loc"][0]) if error["loc"] else "body"
        if only and name not in only:
            continue
        fields.setdefault(name, _message(model, name, error))
    order = [field.alias or name for name, field in model.model_fields.items()]
    for name in order:
        if name in fields and name in model.codes:
            return DomainError(fields[name], code=model.codes[name])
    if model.domain_check is not None:
        _clean, found = model.domain_check(dict(data))
        fields = {**fields, **found}
    summary = model.summary
    if summary is None:
        message = _("Please check the highlighted fields.")
    else:
        message = summary({}) if callable(summary) else str(summary)
    return ValidationFailed(message, code=model.error_code, fields=fields)


def _day(value: Any) -> Any:
    return parse_date(value) if isinstance(value, str) else value


def _day_or_time(value: Any) -> Any:
    return parse_date(value, times=True) if isinstance(value, str) else value


_RANGE = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"

# YYYY-MM-DD only.
Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "description": f"YYYY-MM-DD, {_RANGE}."}),
]
# YYYY-MM-DD or an ISO-8601 time.
Moment = Annotated[
    date | datetime,
    BeforeValidator(_day_or_time),
    WithJsonSchema(
        {
            "type": "string",
            "description": f"YYYY-MM-DD or an ISO-8601 time (2025-01-31T12:00:00Z), {_RANGE}.",
        }
    ),
]
