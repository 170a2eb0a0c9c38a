"""OpenAPI post-processing: answers every API operation can give, documented once for all."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers

from webapp.api.serializers import StrictSerializer

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


def _name_enum_members(schema: dict[str, Any]) -> None:
    """Give a string enum whose values would clash as identifiers names of its own.

    Client generators turn values into member names: "GMT+0", "GMT-0" and "GMT0" all become
    GMT0. `x-enum-varnames` (read by openapi-python-client and openapi-generator) keeps
    them apart.
    """
    values = schema.get("enum")
    if not values or not all(isinstance(value, str) for value in values):
        return
    plain = [re.sub(r"\W+", "_", value).strip("_").upper() for value in values]
    if len(set(plain)) == len(plain):
        return
    spelled = [
        re.sub(r"\W+", "_", value.replace("+", "_PLUS_").replace("-", "_MINUS_")).strip("_").upper()
        for value in values
    ]
    schema["x-enum-varnames"] = spelled


def _one_variant_per_field(schema: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The object `schema` split into one variant per field of `names`, each requiring its own
    field and without the others: "exactly one of" as client generators understand it."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    variants = []
    for name in names:
        kept = {key: value for key, value in properties.items() if key == name or key not in names}
        variants.append(
            {
                "type": "object",
                "properties": kept,
                "required": sorted((required & set(kept)) | {name}),
                "additionalProperties": False,
                "x-variant-field": name,
            }
        )
    return {"oneOf": variants}


def _name_variants(schemas: dict[str, Any]) -> None:
    """Give each variant of an "exactly one of" body a component of its own, named for its
    field (ReminderInputRequest -> ReminderInputBeforeRequest, ReminderInputAtRequest), so a
    generated client has a type to build rather than an anonymous union member."""
    for name, component in list(schemas.items()):
        variants = component.get("oneOf")
        if not variants or not all(variant.get("x-variant-field") for variant in variants):
            continue
        base = name.removesuffix("Request")
        suffix = "Request" if name.endswith("Request") else ""
        refs = []
        for variant in variants:
            field = variant.pop("x-variant-field")
            variant_name = f"{base}{field[:1].upper()}{field[1:]}{suffix}"
            schemas[variant_name] = variant
            refs.append({"$ref": f"#/components/schemas/{variant_name}"})
        component["oneOf"] = refs


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
    for component in schemas.values():
        _name_enum_members(component)
    _name_variants(schemas)
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
            if "requestBody" in operation:
                if method in {"post", "put"}:
                    # Every body these take has required fields; "no body" is not an option.
                    operation["requestBody"]["required"] = True
                responses.setdefault("413", _error("the body is larger than the server takes"))
                responses.setdefault("415", _error("the body is not application/json"))
    _add_links(result.get("paths", {}))
    return result


# Where a response's ids lead: (method, path, status) -> {link name: (operationId, parameter,
# JSON pointer into the response)}. Stateful clients (and schemathesis) follow these to reach
# the operations that need an id from another one.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {
    ("post", "/api/v1/tasks/", "201"): {
        "GetTask": ("v1_tasks_retrieve", "id", "/id"),
        "UpdateTask": ("v1_tasks_partial_update", "id", "/id"),
        "CompleteTask": ("v1_tasks_complete_create", "id", "/id"),
        "ReopenTask": ("v1_tasks_reopen_create", "id", "/id"),
        "ListReminders": ("tasks_reminders_list", "task_id", "/id"),
        "AddReminder": ("tasks_reminders_create", "task_id", "/id"),
        "DeleteTask": ("v1_tasks_destroy", "id", "/id"),
    },
    ("get", "/api/v1/series/", "200"): {
        "GetSeries": ("v1_series_retrieve", "id", "/results/0/id"),
        "UpdateSeries": ("v1_series_partial_update", "id", "/results/0/id"),
        "SeriesOccurrences": ("v1_series_occurrences_retrieve", "id", "/results/0/id"),
        "DeleteSeries": ("v1_series_destroy", "id", "/results/0/id"),
    },
    ("patch", "/api/v1/series/{id}/", "200"): {
        "GetSeries": ("v1_series_retrieve", "id", "/id"),
        "SeriesOccurrences": ("v1_series_occurrences_retrieve", "id", "/id"),
        "DeleteSeries": ("v1_series_destroy", "id", "/id"),
    },
    ("post", "/api/v1/tasks/{task_id}/reminders/", "201"): {
        "GetReminder": ("v1_reminders_retrieve", "reminder_id", "/id"),
        "DeleteReminder": ("v1_reminders_destroy", "reminder_id", "/id"),
    },
    ("post", "/api/v1/devices/", "201"): {
        "DeleteDevice": ("v1_devices_destroy", "device_id", "/id"),
    },
    ("post", "/api/v1/auth/api-tokens/", "201"): {
        "RevokeToken": ("v1_auth_api_tokens_destroy", "token_id", "/id"),
    },
}


def _add_links(paths: dict[str, Any]) -> None:
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {
                "operationId": operation_id,
                "parameters": {parameter: f"$response.body#{pointer}"},
            }
            for name, (operation_id, parameter, pointer) in links.items()
        }


class ContractAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, saying what the strict serializers refuse.

    A StrictSerializer answers 400 to a field it does not know, so its request schema must not
    allow more properties than it lists (OpenAPI's default does); a client generated from the
    schema then refuses such a body before sending it.
    """

    def _map_serializer(
        self, serializer: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(  # type: ignore[no-untyped-call]
            serializer, direction, bypass_extensions
        )
        instance = force_instance(serializer)  # type: ignore[no-untyped-call]
        if direction == "request" and isinstance(instance, StrictSerializer):
            schema["additionalProperties"] = False
            if instance.exactly_one_of:
                return _one_variant_per_field(schema, instance.exactly_one_of)
        return schema

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        if (
            direction == "request"
            and isinstance(field, serializers.ListField)
            and not field.allow_empty
        ):
            schema.setdefault("minItems", 1)
        return schema


class IsoDurationFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """An ISO 8601 duration: a string with the very pattern the field checks."""

    target_class = "webapp.api.serializers.IsoDurationField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "string", "pattern": self.target.pattern, "example": "PT1H"}
