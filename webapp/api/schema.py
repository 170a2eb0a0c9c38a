"""OpenAPI post-processing: answers every API operation can give, documented once for all."""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }


def _requires_auth(operation: dict[str, Any]) -> bool:
    # drf-spectacular writes `{}` into `security` when anonymous access is allowed.
    return all(requirement for requirement in operation.get("security", [{}]))


def add_common_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Document 401 on authenticated operations and 429 on all of `/api/`.

    Every DRF view here is rate limited and every non-public one rejects a missing or expired
    token, so a client generated from the schema must expect both.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
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
    return result
