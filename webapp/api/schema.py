"""OpenAPI post-processing: answers every API operation can give, documented once for all."""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_COMPONENT = "ValidationErrors"
VALIDATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Messages per field (query parameter or body field).",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }


def _validation_error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{VALIDATION_COMPONENT}"}}
        },
    }


def _is_paginated(operation: dict[str, Any]) -> bool:
    return any(
        parameter.get("in") == "query" and parameter.get("name") == "page_size"
        for parameter in operation.get("parameters", [])
    )


def _requires_auth(operation: dict[str, Any]) -> bool:
    # drf-spectacular writes `{}` into `security` when anonymous access is allowed.
    return all(requirement for requirement in operation.get("security", [{}]))


def add_common_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document 401 on authenticated operations, 429 and 503 on all of `/api/`, 400/404 on
    pages.

    Every DRF view here is rate limited and every non-public one rejects a missing or expired
    token; any of them may find no database connection in time (503, webapp/middleware.py);
    every paginated list rejects a bad page_size (400) and a page past the end (404).
    A client generated from the schema must expect all of them.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    schemas.setdefault(VALIDATION_COMPONENT, VALIDATION_SCHEMA)
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if _requires_auth(operation):
                responses.setdefault("401", _error("missing, invalid or expired credentials"))
            responses.setdefault("429", _error("rate limited; retry after Retry-After seconds"))
            responses.setdefault(
                "503", _error("the database is busy or away; retry after Retry-After seconds")
            )
            if _is_paginated(operation):
                responses.setdefault("400", _validation_error("bad query parameters"))
                responses.setdefault("404", _error("page past the end"))
    return result
