"""The OpenAPI 3 document of the JSON API, made from the request and response models
(`schemas/`) and a table of the routes (`ROUTES`): what each takes, what it answers and
which errors it may give. Paths and path parameters come from `app.url_map`, so a route
cannot be documented under a path it does not have; `undocumented(app)` and `stale(app)`
keep the table and the app in step (a test keeps both lists empty)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from .openapi_program_routes import PROGRAM_ROUTES
from .openapi_reward_routes import REWARD_ROUTES
from .openapi_routes import ROUTES as BASE_ROUTES
from .openapi_routes import Route, Schema
from .schemas import responses

ROUTES = [*BASE_ROUTES, *PROGRAM_ROUTES, *REWARD_ROUTES]
OPERATIONS: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in ROUTES}

OPENAPI_VERSION = "3.0.3"
API_PREFIX = "/api/"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
SECURED_BLUEPRINTS = {"customer_api", "admin_api"}
REF_TEMPLATE = "#/components/schemas/{model}"


def _openapi30(schema: Any) -> Any:
    """pydantic's JSON Schema (2020-12) as OpenAPI 3.0 has it: `X | None` becomes
    `nullable`, `const` an enum, `examples` one `example`; titles and null defaults go."""
    if isinstance(schema, list):
        return [_openapi30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _openapi30(prop) for name, prop in value.items()}
        elif key == "title" or (key == "default" and value is None):
            continue
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            out["example"] = value[0]
        else:
            out[key] = _openapi30(value)
    options = out.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" in rest[0]:
            out = {"allOf": rest, **out}
        elif len(rest) == 1:
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [responses.Error, responses.WebhookPayload]
    for route in ROUTES:
        for model in (route.body, route.answer):
            if model is not None and model not in found:
                found.append(model)
    return found


def component_schemas() -> dict[str, Schema]:
    """Every request and response model (and the models they use), by name."""
    _refs, definitions = models_json_schema(
        [(model, "validation") for model in _models()], ref_template=REF_TEMPLATE
    )
    return {name: _openapi30(schema) for name, schema in definitions.get("$defs", {}).items()}


def ref(model: type[BaseModel] | str) -> Schema:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF_TEMPLATE.format(model=name)}


def query_parameters(model: type[BaseModel]) -> list[Schema]:
    """A query model's fields as OpenAPI parameters."""
    schema = _openapi30(model.model_json_schema(ref_template=REF_TEMPLATE))
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {key: value for key, value in prop.items() if key != "nullable"}
        description = prop.pop("description", "")
        parameter: Schema = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error_answer(description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(responses.Error)}},
    }


def operation(route: Route) -> dict[str, Any]:
    """The OpenAPI operation of one table entry (without path parameters and security)."""
    result: dict[str, Any] = {"summary": route.summary, "tags": [route.tag]}
    if route.description:
        result["description"] = route.description
    if route.query is not None:
        result["parameters"] = query_parameters(route.query)
    if route.body is not None:
        schema = ref(route.body)
        result["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    if route.media_type == "application/json":
        answer = ref(route.answer) if route.answer else {"type": "object"}
    elif route.media_type == "image/gif":
        answer = {"type": "string", "format": "binary"}
    else:
        answer = {"type": "string"}
    responses: dict[str, Any] = {
        str(route.status): {
            "description": "Success.",
            "content": {route.media_type: {"schema": answer}},
        }
    }
    for status, text in route.errors.items():
        responses[str(status)] = _error_answer(text)
    responses.update(route.extra)
    result["responses"] = responses
    return result


def openapi_path(rule: Rule) -> str:
    """`/x/<int:id>` → `/x/{id}`."""
    return _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule.rule)


def _path_parameters(rule: Rule) -> list[Schema]:
    parameters = []
    for name in _ARGUMENT.findall(rule.rule):
        converter = rule._converters.get(name)  # noqa: SLF001 - werkzeug keeps them here
        if isinstance(converter, IntegerConverter):
            schema: Schema = {"type": "integer", "minimum": 0}
            if converter.min is not None:
                schema["minimum"] = converter.min
            if converter.max is not None:
                schema["maximum"] = converter.max
        else:
            schema = {"type": "string", "pattern": "^[^/]+$", "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def api_routes(app: Flask) -> list[tuple[str, str, Rule]]:
    """Every (METHOD, OpenAPI path, rule) under /api/ that the app really serves."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            found.append((method, openapi_path(rule), rule))
    return sorted(found, key=lambda item: (item[1], item[0]))


def undocumented(app: Flask) -> list[str]:
    """`METHOD /path` of every /api/ route with no entry in ROUTES (must stay empty)."""
    return [f"{m} {p}" for m, p, _rule in api_routes(app) if (m, p) not in OPERATIONS]


def stale(app: Flask) -> list[str]:
    """Entries in ROUTES whose route no longer exists."""
    served = {(m, p) for m, p, _rule in api_routes(app)}
    return [f"{m} {p}" for (m, p) in OPERATIONS if (m, p) not in served]


def _finish(route: Route, rule: Rule, method: str) -> dict[str, Any]:
    result = operation(route)
    result["operationId"] = f"{rule.endpoint}_{method.lower()}".replace(".", "_")
    blueprint = rule.endpoint.split(".", 1)[0]
    path_parameters = _path_parameters(rule)
    if path_parameters:
        result["parameters"] = path_parameters + result.get("parameters", [])
    responses = result["responses"]
    if blueprint in SECURED_BLUEPRINTS:
        result["security"] = [{"bearerAuth": []}, {"sessionCookie": []}]
        responses.setdefault("401", {"$ref": "#/components/responses/Error"})
        responses.setdefault("403", {"$ref": "#/components/responses/Error"})
    else:
        result["security"] = []
    # Any client error is the documented error body (400 bad input, 404, 413, 415, 429 …).
    responses.setdefault("4XX", {"$ref": "#/components/responses/Error"})
    return result


DESCRIPTION = """\
The referral program's HTTP API. Every JSON answer carries `"ok": true|false`; errors are
`{"ok": false, "error": "<snake_case_code>", "message": "…"}` with a 4xx status.

- **Public API**: no authentication, CORS open; called by `referral-tracking.js`.
- **Customer API**: a customer's session or `Authorization: Bearer <API key>`.
- **Admin API**: an admin's session or an admin API key.
- **Webhooks**: POSTs to the customer's endpoints, signed per standardwebhooks.com
  (`webhook-id`, `webhook-timestamp`, `webhook-signature`); the body is the
  `WebhookPayload` schema. See docs/webhooks.md for verification in Python and JavaScript.
"""


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for `app` (only routes it serves and that are described)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, rule in api_routes(app):
        route = OPERATIONS.get((method, path))
        if route is None:
            continue
        paths.setdefault(path, {})[method.lower()] = _finish(route, rule, method)
    base_url = str(app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Referral program API", "version": "1.0", "description": DESCRIPTION},
        "servers": [{"url": base_url or "/"}],
        "tags": [
            {"name": "Public", "description": "Tracking and sign-up, no authentication."},
            {"name": "Customer", "description": "A customer's program, stats and data."},
            {"name": "Webhooks", "description": "Webhook endpoints and their delivery log."},
            {"name": "Admin", "description": "The platform operator's view."},
            {"name": "Meta", "description": "This documentation."},
        ],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "responses": {
                "Error": {
                    "description": "An error (see `error` for the code).",
                    "content": {"application/json": {"schema": ref("Error")}},
                }
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`rk_…`), made in the dashboard or with "
                    "`flask create-customer --api-key`.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "A dashboard login; writes then need the `X-CSRFToken` header.",
                },
            },
        },
    }


def _resolve(schema: Schema, document: dict[str, Any]) -> tuple[Schema, str | None]:
    """(the schema behind a `$ref`, its name) or (the schema, None)."""
    name = None
    while "$ref" in schema or len(schema.get("allOf", [])) == 1:
        if "$ref" not in schema:  # a nullable reference: {"allOf": [{"$ref": …}], …}
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
            continue
        name = schema["$ref"].rsplit("/", 1)[-1]
        nullable = schema.get("nullable")
        schema = document["components"]["schemas"][name]
        if nullable:
            schema = {**schema, "nullable": True}
    return schema, name


def type_label(schema: Schema, document: dict[str, Any]) -> str:
    """A short type for the docs page: `integer`, `string (date-time)`, `WebhookDelivery[]`."""
    resolved, name = _resolve(schema, document)
    if resolved.get("type") == "array":
        label = type_label(resolved.get("items", {}), document) + "[]"
    elif name and resolved.get("type") == "object":
        label = name
    else:
        label = str(resolved.get("type", "any"))
        if resolved.get("format"):
            label += f" ({resolved['format']})"
        if resolved.get("enum"):
            label += ": " + " | ".join(str(v).lower() for v in resolved["enum"])
    if resolved.get("nullable"):
        label += " or null"
    return label


def fields(
    schema: Schema, document: dict[str, Any], prefix: str = "", depth: int = 0
) -> list[dict[str, Any]]:
    """The properties of a body as rows (nested objects and arrays of objects flattened to
    `items[].id`), for the docs page."""
    resolved, _name = _resolve(schema, document)
    if resolved.get("type") == "array":
        return fields(resolved.get("items", {}), document, prefix + "[]", depth)
    rows: list[dict[str, Any]] = []
    required = set(resolved.get("required", []))
    for key, prop in (resolved.get("properties") or {}).items():
        target, _ = _resolve(prop, document)
        rows.append(
            {
                "name": f"{prefix}.{key}" if prefix else key,
                "type": type_label(prop, document),
                "required": key in required,
                "description": target.get("description") or prop.get("description") or "",
            }
        )
        inner = target.get("items", {}) if target.get("type") == "array" else target
        inner, _ = _resolve(inner, document)
        if depth < 2 and inner.get("type") == "object" and inner.get("properties"):
            suffix = "[]" if target.get("type") == "array" else ""
            rows.extend(fields(inner, document, rows[-1]["name"] + suffix, depth + 1))
    return rows


def sections(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document grouped by tag, each operation with its fields as rows."""
    by_tag: dict[str, list[dict[str, Any]]] = {t["name"]: [] for t in document["tags"]}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {})
            body_schema = next(iter(body.values()), {}).get("schema") if body else None
            responses = []
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    response = document["components"]["responses"][name]
                content = response.get("content", {})
                media, media_body = next(iter(content.items()), (None, {}))
                schema = media_body.get("schema") if media_body else None
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "media_type": media,
                        "fields": fields(schema, document)
                        if schema and media == "application/json" and status.startswith("2")
                        else [],
                    }
                )
            tag = operation["tags"][0]
            by_tag.setdefault(tag, []).append(
                {
                    "id": operation["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"],
                    "description": operation.get("description", ""),
                    "secured": bool(operation.get("security")),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": type_label(p.get("schema", {}), document),
                            "description": p.get("description", ""),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "body": fields(body_schema, document) if body_schema else [],
                    "responses": responses,
                }
            )
    descriptions = {t["name"]: t["description"] for t in document["tags"]}
    return [
        {"tag": tag, "description": descriptions.get(tag, ""), "operations": ops}
        for tag, ops in by_tag.items()
        if ops
    ]
