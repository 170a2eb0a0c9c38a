"""One error shape for the API: `{field: [messages]}` for validation, `{detail: ...}` otherwise."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(DjangoValidationError):
    """Input valid in itself that clashes with what exists (a name already taken): a 409 with
    the same `{field: [messages]}` body as a 400, so a client can tell "fix the request" from
    "choose another value"."""


class NestedValidationError(DjangoValidationError):
    """A validation error whose messages nest like the input did (`{"recurrence": {"rule":
    [...]}}`), which Django's own cannot carry; the API answers with `detail` as it is."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.detail = detail
        super().__init__({key: str(value) for key, value in detail.items()})


def as_drf_validation_error(exc: DjangoValidationError) -> ValidationError:
    if isinstance(exc, NestedValidationError):
        return ValidationError(exc.detail)
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"non_field_errors": exc.messages})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    conflict = isinstance(exc, Conflict)
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_validation_error(exc)
    response = drf_exception_handler(exc, context)
    if conflict and response is not None:
        response.status_code = 409
    return response
